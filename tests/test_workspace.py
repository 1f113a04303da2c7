"""workspace.toml (audit/workspace.py): paths relative to the workspace and confined to it, one-line errors, the
`audit app --workspace` hand-over, and the progress listeners the app's bars are fed by."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from audit import app_cli, cli, config, progress
from audit.errors import InputError
from audit.workspace import WORKSPACE_FILE, current_workspace, load_workspace, write_workspace


def test_written_workspace_reads_back_with_absolute_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_workspace(tmp_path / "ws", name="mine", paths={"index": "idx", "trust": ""})
    monkeypatch.chdir(tmp_path)  # nothing below depends on the working directory
    ws = load_workspace("ws")
    root = (tmp_path / "ws").resolve()
    assert ws.name == "mine" and ws.root == root and ws.from_file
    assert ws.index == root / "idx" and ws.requests == root / "removal" / "requests.db"
    assert ws.trust is None and ws.generator == config.GENERATOR_DIR.resolve()
    assert ws.trust_anchor() is None  # no CA there yet
    (root / "ca").mkdir()
    assert ws.trust_anchor() == root / "ca"
    assert load_workspace(root / WORKSPACE_FILE) == ws  # the file itself is accepted too


@pytest.mark.parametrize("line, message", [
    ('index = "../outside"', "leaves the workspace directory"),
    ('index = 3', "must be a text path"),
    ('registry = ""', "registry is blank"),
    ('colour = "red"', "unknown [paths] key(s) colour"),
    ('index = "unterminated', "is not valid TOML"),
])
def test_bad_workspace_files_are_one_line_errors(tmp_path: Path, line: str, message: str) -> None:
    (tmp_path / WORKSPACE_FILE).write_text(f"version = 1\n[paths]\n{line}\n")
    with pytest.raises(InputError) as err:
        load_workspace(tmp_path)
    assert message in err.value.message and str(tmp_path) in err.value.message
    assert "\n" not in str(err.value)


def test_absolute_path_outside_is_allowed_when_written(tmp_path: Path) -> None:
    elsewhere = tmp_path / "shared" / "optout.db"
    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / WORKSPACE_FILE).write_text(f'version = 1\n[paths]\nregistry = "{elsewhere}"\n')
    assert load_workspace(tmp_path / "ws").registry == elsewhere


def test_current_workspace_prefers_env_then_demo_then_environment(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for var in (config.ENV_WORKSPACE, config.ENV_INDEX, config.ENV_REMOVAL_DB):
        monkeypatch.delenv(var, raising=False)
    fallback = current_workspace()
    assert not fallback.from_file and fallback.requests == (tmp_path / "requests.db").resolve()
    write_workspace(tmp_path / "demo")
    assert current_workspace().root == (tmp_path / "demo").resolve()
    write_workspace(tmp_path / "other")
    monkeypatch.setenv(config.ENV_WORKSPACE, str(tmp_path / "other"))
    assert current_workspace().root == (tmp_path / "other").resolve()


def test_audit_app_hands_the_workspace_to_streamlit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_workspace(tmp_path / "ws", paths={"index": "my-index"})
    cmd, env = app_cli.streamlit_command(workspace=tmp_path / "ws", environ={"PATH": "/bin"})
    assert env[config.ENV_WORKSPACE] == str((tmp_path / "ws").resolve())
    assert env[config.ENV_INDEX] == str((tmp_path / "ws" / "my-index").resolve())
    assert cli.main(["app", "--workspace", str(tmp_path / "nothing-here"), "--headless"]) == 2
    err = capsys.readouterr().err
    assert "nothing-here is not a directory" in err and "Traceback" not in err


def test_workspace_cli_init_and_show(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["workspace", "init", str(tmp_path / "ws")]) == 0
    assert cli.main(["workspace", "init", str(tmp_path / "ws")]) == 2  # no silent overwrite
    assert cli.main(["workspace", "show", str(tmp_path / "ws")]) == 0
    out = capsys.readouterr().out
    assert "training-set index" in out and "(missing)" in out


def test_progress_listeners_see_bars_and_tracked_loops_from_worker_threads() -> None:
    seen: list[tuple[str, float, int | None]] = []
    with progress.reporting(lambda d, n, t: seen.append((d, n, t))):
        b = progress.bar(4, "work")
        workers = [threading.Thread(target=b.update) for _ in range(4)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        b.close()
        assert list(progress.track(["a", "b"], "loop")) == ["a", "b"]
    assert ("work", 4, 4) in seen and ("loop", 2, 2) in seen
    seen.clear()
    progress.bar(1, "outside").update()
    assert seen == []  # listeners end with their block

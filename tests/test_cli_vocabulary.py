"""One CLI vocabulary: new option names work, old ones still work as hidden aliases with one warning line."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from audit import config
from audit.cli import main
from audit.cli_renames import rewrite_args


def _console_script() -> str:
    """The installed `audit` entry point of this interpreter's environment."""
    beside = Path(sys.executable).parent / "audit"
    found = str(beside) if beside.is_file() else shutil.which("audit")
    if found is None:
        pytest.skip("no `audit` console script installed next to this interpreter (pip install -e .)")
    return found


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(config.PROJECT_DIR), os.environ.get("PYTHONPATH")])))
    return subprocess.run([_console_script(), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_console_script_accepts_new_and_deprecated_spellings(tmp_path, capsys):
    new = _run("removal", "list", "--removal-db", "new.db", cwd=tmp_path)
    assert new.returncode == 0 and "no open requests" in new.stdout and "deprecated" not in new.stderr
    old = _run("removal", "list", "--db=old.db", cwd=tmp_path)
    assert old.returncode == 0 and "no open requests" in old.stdout
    assert old.stderr.strip() == "warning: --db is deprecated in `audit removal list`; use --removal-db"
    assert (tmp_path / "new.db").is_file() and (tmp_path / "old.db").is_file()

    # the old --model of `generate sample` still names the generator dir (the error names the path it was given)
    missing = tmp_path / "no-such-generator"
    for flag, warned in (("--generator", False), ("--model", True)):
        r = _run("generate", "sample", flag, str(missing), "--prompt", "a fox", "--out", "s", cwd=tmp_path)
        assert r.returncode == 2 and f"model dir {missing} does not exist" in r.stderr, r.stderr
        assert ("warning: --model is deprecated in `audit generate sample`; use --generator" in r.stderr) == warned
        assert "Traceback" not in r.stderr

    # --force became --overwrite: both rebuild an up-to-date dataset, only the old one warns
    from audit.dataset.synthetic import build_synthetic

    build_synthetic(tmp_path / "ds", n=4, seed=0, size=16)  # in-process: the same inputs, so up to date below
    build = ("dataset", "build-synthetic", "--out", "ds", "--n", "4", "--seed", "0", "--size", "16")
    assert main([*build[:3], str(tmp_path / "ds"), *build[4:]]) == 0 and "up to date" in capsys.readouterr().out
    for flag in ("--overwrite", "--force"):
        r = _run(*build, flag, cwd=tmp_path)
        assert r.returncode == 0 and "wrote 4 images" in r.stdout, r.stderr
        assert ("warning: --force is deprecated" in r.stderr) == (flag == "--force")


def test_rewrite_touches_option_names_only():
    renames = {"--model": "--generator"}
    values = {"--generator", "--prompt", "--out"}
    args, seen = rewrite_args(["--prompt", "--model", "--model=g", "--out", "o", "--", "--model"], renames, values)
    assert args == ["--prompt", "--model", "--generator=g", "--out", "o", "--", "--model"] and seen == ["--model"]
    args, seen = rewrite_args(["--model", "a", "--model", "b"], {"--model": "--generator"}, values)
    assert args == ["--generator", "a", "--generator", "b"] and seen == ["--model"]


def test_old_name_is_hidden_and_only_aliased_where_the_new_one_exists(capsys):
    assert main(["removal", "new", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--removal-db" in out and "--db " not in out
    # `removal new` has no --generator, so --model stays what it always was there: an unknown option, no warning
    assert main(["removal", "new", "--name", "a", "--contact", "b", "--model", "x"]) == 2
    err = capsys.readouterr().err
    assert "No such option: --model" in err and "deprecated" not in err and "Traceback" not in err


def test_dataset_card_is_registered_from_the_groups_table(capsys):
    from audit.cli import GROUPS

    assert ("dataset card", "audit.card.cli") in [(name, module) for name, module, _ in GROUPS]
    assert main(["dataset", "--help"]) == 0
    assert "card" in capsys.readouterr().out
    assert main(["dataset", "card", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--removal-db" in out and "--requests" not in out


def test_card_accepts_old_requests_flag(tmp_path, capsys):
    from audit.dataset.synthetic import build_synthetic

    build_synthetic(tmp_path / "ds", n=6, size=16)
    erased = tmp_path / "erased.txt"
    erased.write_text("nothing-here\n")
    for flag in ("--removal-db", "--requests"):
        out = tmp_path / f"card{flag}"
        assert main(["dataset", "card", str(tmp_path / "ds"), "--out", str(out), flag, str(erased)]) == 0
        err = capsys.readouterr().err
        assert ("warning: --requests is deprecated in `audit dataset card`; use --removal-db" in err) == (flag == "--requests")
        assert (out / "card.json").is_file()
        assert str(erased) in (out / "card.json").read_text()


@pytest.mark.skipif(not (config.GENERATOR_DIR / "model.safetensors").is_file(), reason="no shipped generator")
def test_generate_sample_defaults_to_the_shipped_generator(tmp_path, capsys):
    import json

    out = tmp_path / "s"
    assert main(["generate", "sample", "--prompt", "a fox", "--n", "1", "--steps", "1", "--out", str(out)]) == 0, capsys.readouterr().err
    assert json.loads((out / "meta.json").read_text())["model_dir"] == str(config.GENERATOR_DIR.resolve())
    assert len(list(out.glob("*.png"))) == 1

"""Usage errors give click's one-line message and exit 2, never a traceback — through the installed script.

A newer typer raises the exceptions of its vendored click copy; these tests run the real console script
so that a dependency change which turns usage errors back into tracebacks fails here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import typer.main

from audit.cli import app, main

ROOT = Path(__file__).resolve().parents[1]


def _script() -> list[str]:
    exe = Path(sys.executable).with_name("audit")
    if exe.is_file():
        return [str(exe)]
    found = shutil.which("audit")
    if found is None:
        pytest.skip("the audit console script is not installed")
    return [found]


def _leaves() -> list[tuple[list[str], object]]:
    """(command path, click command) for every leaf command of `audit`."""
    out: list[tuple[list[str], object]] = []

    def walk(cmd: object, path: list[str]) -> None:
        subs = getattr(cmd, "commands", None)
        if subs:
            for name, sub in sorted(subs.items()):
                walk(sub, [*path, name])
        else:
            out.append((path, cmd))

    walk(typer.main.get_command(app), [])
    return out


def _bad_usages(path: list[str], cmd: object) -> list[list[str]]:
    """Unknown option, mistyped subcommand, a dash-led bogus argument, missing required params, bad numbers."""
    cases = [[*path, "--no-such-option-xyz"], [*path[:-1], path[-1] + "zz"], [*path, "-Z"]]
    params = list(getattr(cmd, "params", []))
    if any(getattr(p, "required", False) for p in params):
        cases.append(list(path))
    for p in params:
        type_name = getattr(getattr(p, "type", None), "name", "")
        opts = [o for o in getattr(p, "opts", []) if o.startswith("-")]
        if opts and type_name in ("integer", "float"):
            cases.append([*path, opts[0], "many"])
            break
    return cases


def _run(argv: list[str]) -> tuple[list[str], int, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run([*_script(), *argv], capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)
    return argv, r.returncode, r.stderr + r.stdout


def _assert_usage_error(argv: list[str], rc: int, output: str) -> None:
    assert "Traceback" not in output, f"audit {' '.join(argv)} printed a traceback:\n{output}"
    assert rc == 2, f"audit {' '.join(argv)} exited {rc}, want 2:\n{output}"


def test_every_command_rejects_bad_usage_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    """All leaf commands, every kind of bad usage, through main() (fast; the script test below covers the entry point)."""
    leaves = _leaves()
    assert len(leaves) > 30
    for path, cmd in leaves:
        for argv in _bad_usages(path, cmd):
            rc = main(argv)
            out = capsys.readouterr()
            _assert_usage_error(argv, rc, out.err + out.out)


def test_console_script_usage_errors_one_per_group() -> None:
    """The installed `audit` script: no arguments, a typo, and one bad usage per command group (kinds rotate)."""
    by_group: dict[str, list[list[str]]] = {}
    for path, cmd in _leaves():
        by_group.setdefault(path[0], []).extend(_bad_usages(path, cmd))
    argvs: list[list[str]] = [[], ["serach"], ["search", "-k", "many", "--text", "x"]]
    for i, cases in enumerate(by_group.values()):
        argvs.append(cases[i % len(cases)])
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(_run, argvs))
    for argv, rc, output in results:
        _assert_usage_error(argv, rc, output)
    no_args = next(out for argv, _, out in results if argv == [])
    assert "Usage:" in no_args and "search" in no_args  # the help, not a traceback


@pytest.mark.slow
def test_console_script_usage_errors_every_command() -> None:
    argvs = [a for path, cmd in _leaves() for a in _bad_usages(path, cmd)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        for argv, rc, output in pool.map(_run, argvs):
            _assert_usage_error(argv, rc, output)

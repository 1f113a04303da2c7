"""`audit app`: the Streamlit command line it runs, and its one-line errors (audit/app_cli.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from audit import app_cli, cli
from audit.errors import InputError


def test_streamlit_command_passes_index_port_and_headless(tmp_path: Path) -> None:
    cmd, env = app_cli.streamlit_command(tmp_path / "idx", port=8765, headless=True, environ={"PATH": "/bin"})
    assert cmd[1:4] == ["-m", "streamlit", "run"] and cmd[4] == str(app_cli.APP_SCRIPT)
    assert Path(cmd[4]).is_file()
    opts = dict(zip(cmd[5::2], cmd[6::2]))
    assert opts["--server.port"] == "8765" and opts["--server.headless"] == "true"
    assert opts["--server.showEmailPrompt"] == "false"  # never blocks on a prompt
    assert env["GENAUDIT_INDEX"] == str((tmp_path / "idx").resolve()) and env["PATH"] == "/bin"
    cmd, env = app_cli.streamlit_command(None, environ={"GENAUDIT_INDEX": "rel/idx"})
    assert env["GENAUDIT_INDEX"] == str(Path("rel/idx").resolve())
    assert dict(zip(cmd[5::2], cmd[6::2]))["--server.headless"] == "false"
    for bad in (0, 70000):
        with pytest.raises(InputError, match="port"):
            app_cli.streamlit_command(tmp_path, port=bad)


def test_cli_app_bad_port_is_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["app", "--port", "0", "--headless"]) == 2
    err = capsys.readouterr().err
    assert "--port 0 is not a TCP port" in err and "Traceback" not in err

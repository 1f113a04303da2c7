"""Top-level `audit app`: serve the Streamlit review app (app/, shipped in the wheel beside audit/) over an index.

Only the launch lives here: Streamlit runs in a child process, so nothing under audit/ imports streamlit or app/.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Callable, Mapping, Optional

import typer

from audit.errors import ArtefactError, InputError
from audit.index.status import INDEX_ENV, NO_INDEX_HINT, default_index_dir, index_status

#: The app package sits beside audit/ both in a checkout and in site-packages (pyproject ships both).
APP_SCRIPT = Path(__file__).resolve().parent.parent / "app" / "streamlit_app.py"


def streamlit_command(
    index_dir: str | Path | None = None,
    port: int = 8501,
    host: str = "localhost",
    headless: bool = False,
    python: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> tuple[list[str], dict[str, str]]:
    """The argv and environment that serve the review app (used by `audit app` and by the tests)."""
    if not APP_SCRIPT.is_file():
        raise ArtefactError(f"{APP_SCRIPT} is missing", "reinstall genaudit: its wheel ships the app/ package beside audit/")
    if not 1 <= int(port) <= 65535:
        raise InputError(f"--port {port} is not a TCP port", "use a number from 1 to 65535, e.g. 8501")
    index = Path(index_dir) if index_dir is not None else default_index_dir(environ)
    env = dict(os.environ if environ is None else environ)
    env[INDEX_ENV] = str(index.expanduser().resolve())
    cmd = [
        python or sys.executable, "-m", "streamlit", "run", str(APP_SCRIPT),
        "--server.port", str(int(port)),
        "--server.address", host,
        "--server.headless", "true" if headless else "false",
        "--server.showEmailPrompt", "false",
        "--browser.gatherUsageStats", "false",
        "--client.toolbarMode", "minimal",
    ]
    return cmd, env


def launch(index_dir: str | Path | None = None, port: int = 8501, host: str = "localhost",
           headless: bool = False, log: Callable[[str], None] = print) -> int:
    """Run Streamlit in the foreground until it exits or the user presses Ctrl-C."""
    import signal
    import subprocess

    cmd, env = streamlit_command(index_dir, port=port, host=host, headless=headless)
    status = index_status(env[INDEX_ENV])
    if status.ready:
        log(f"index: {status.path} ({status.summary.replace('`', '')})")
    else:
        log(f"note: {status.message.replace('`', '')} The app will say how to build one ({NO_INDEX_HINT}).")
    log(f"serving the review app on http://{host}:{port}  (Ctrl-C stops it)")
    proc = subprocess.Popen(cmd, env=env)
    # A SIGTERM to `audit app` (service managers, test harnesses) must stop Streamlit too, not orphan it.
    previous = signal.signal(signal.SIGTERM, lambda *_: proc.terminate())
    try:
        code = proc.wait()
        return 0 if code in (-signal.SIGTERM, -signal.SIGINT) else code
    except KeyboardInterrupt:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)


def register(app: typer.Typer) -> None:
    @app.command("app")
    def app_command(
        index: Optional[Path] = typer.Option(
            None, "--index", help="Index directory (default: $GENAUDIT_INDEX, else demo/index as written by `audit demo`)."
        ),
        port: int = typer.Option(8501, help="TCP port to serve on."),
        host: str = typer.Option("localhost", help="Address to bind (0.0.0.0 to serve other machines)."),
        headless: bool = typer.Option(False, "--headless", help="Do not open a browser (servers, CI)."),
    ) -> None:
        """Open the review app: search the training set by text or image, review results."""
        code = launch(index, port=port, host=host, headless=headless, log=typer.echo)
        if code:
            raise typer.Exit(code)

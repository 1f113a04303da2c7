"""Top-level `audit app`: serve the Streamlit review app (app/, shipped in the wheel beside audit/) over an index.

Only the launch lives here: Streamlit runs in a child process, so nothing under audit/ imports streamlit or app/.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Callable, Mapping, Optional

import typer

from audit import config
from audit.errors import ArtefactError, InputError
from audit.index.status import INDEX_ENV, NO_INDEX_HINT, default_index_dir, index_status
from audit.workspace import WORKSPACE_FILE, Workspace, describe, load_workspace

#: The app package sits beside audit/ both in a checkout and in site-packages (pyproject ships both).
APP_SCRIPT = Path(__file__).resolve().parent.parent / "app" / "streamlit_app.py"


def streamlit_command(
    index_dir: str | Path | None = None,
    port: int = 8501,
    host: str = "localhost",
    headless: bool = False,
    python: str | None = None,
    environ: Mapping[str, str] | None = None,
    workspace: str | Path | None = None,
) -> tuple[list[str], dict[str, str]]:
    """The argv and environment that serve the review app (used by `audit app` and by the tests).

    The workspace (--workspace, else $GENAUDIT_WORKSPACE, else ./demo when it has a workspace.toml and no index is
    named) is resolved to an absolute path here, so the app does not depend on Streamlit's working directory."""
    if not APP_SCRIPT.is_file():
        raise ArtefactError(f"{APP_SCRIPT} is missing", "reinstall genaudit: its wheel ships the app/ package beside audit/")
    if not 1 <= int(port) <= 65535:
        raise InputError(f"--port {port} is not a TCP port", "use a number from 1 to 65535, e.g. 8501")
    env = dict(os.environ if environ is None else environ)
    ws = launch_workspace(workspace, index_dir, env)
    if ws is not None:
        env[config.ENV_WORKSPACE] = str(ws.root)
    index = Path(index_dir) if index_dir is not None else ws.index if ws is not None else default_index_dir(environ)
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


def launch_workspace(workspace: str | Path | None, index_dir: str | Path | None,
                     environ: Mapping[str, str]) -> Workspace | None:
    """The workspace `audit app` serves, or None (then the single-artefact variables apply)."""
    chosen = workspace if workspace is not None else config.workspace_dir(environ)
    if chosen is not None:
        return load_workspace(chosen)
    if index_dir is None and config.env_value(INDEX_ENV, environ) is None and (config.DEMO_DIR / WORKSPACE_FILE).is_file():
        return load_workspace(config.DEMO_DIR)
    return None


def launch(index_dir: str | Path | None = None, port: int = 8501, host: str = "localhost",
           headless: bool = False, log: Callable[[str], None] = print, workspace: str | Path | None = None) -> int:
    """Run Streamlit in the foreground until it exits or the user presses Ctrl-C."""
    import signal
    import subprocess

    cmd, env = streamlit_command(index_dir, port=port, host=host, headless=headless, workspace=workspace)
    if config.ENV_WORKSPACE in env:
        ws = load_workspace(env[config.ENV_WORKSPACE])
        log(f"workspace: {ws.root} ({ws.name})")
        for what, path, exists in describe(ws):
            log(f"  {what}: {path}{'' if exists else '  (not there yet)'}")
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
        workspace: Optional[Path] = typer.Option(
            None, "--workspace", help="Workspace directory holding workspace.toml (default: $GENAUDIT_WORKSPACE, else "
            "demo/ as written by `audit demo`)."
        ),
        index: Optional[Path] = typer.Option(
            None, "--index", help="Index directory (default: the workspace's, else $GENAUDIT_INDEX, else demo/index)."
        ),
        port: int = typer.Option(8501, help="TCP port to serve on."),
        host: str = typer.Option("localhost", help="Address to bind (0.0.0.0 to serve other machines)."),
        headless: bool = typer.Option(False, "--headless", help="Do not open a browser (servers, CI)."),
    ) -> None:
        """Open the review app: search the training set by text or image, review results."""
        code = launch(index, port=port, host=host, headless=headless, log=typer.echo, workspace=workspace)
        if code:
            raise typer.Exit(code)

"""`audit workspace init|show`: write or check the workspace.toml the review app opens (audit/workspace.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(no_args_is_help=True)


@app.command("init")
def init(
    directory: Path = typer.Argument(..., help="Workspace directory (created if missing)."),
    name: Optional[str] = typer.Option(None, help="Name shown in the app (default: the directory's name)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing workspace.toml."),
) -> None:
    """Write DIR/workspace.toml with the layout `audit demo` uses; edit the paths to point at your artefacts."""
    from audit.workspace import write_workspace

    typer.echo(f"wrote {write_workspace(directory, name=name, overwrite=overwrite)}")


@app.command("show")
def show(directory: Path = typer.Argument(..., help="Workspace directory holding workspace.toml.")) -> None:
    """Print what a workspace names and whether each artefact exists yet."""
    from audit.workspace import describe, load_workspace

    ws = load_workspace(directory)
    typer.echo(f"workspace {ws.name}: {ws.root}")
    for what, path, exists in describe(ws):
        typer.echo(f"  {what}: {path}{'' if exists else '  (missing)'}")

"""Top-level `audit app`: serve the Streamlit review app over an index (a thin call into audit.webapp)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


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
        from audit.webapp import launch

        code = launch(index, port=port, host=host, headless=headless, log=typer.echo)
        if code:
            raise typer.Exit(code)

"""Top-level `audit demo` command."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from audit import config


def register(app: typer.Typer) -> None:
    @app.command()
    def demo(
        out: Path = typer.Option(config.DEMO_DIR, help="Folder for the demo's artefacts and summary.md."),
        dataset: Optional[Path] = typer.Option(None, help="Dataset dir (default: the shipped reference set)."),
        model: Optional[str] = typer.Option(None, help="CLIP model (default: the shipped tiny CLIP)."),
        device: str = typer.Option("cpu", help="cpu or cuda."),
        seed: int = typer.Option(config.DEFAULT_SEED, help="Seed for every random step."),
    ) -> None:
        """Build (or reuse) the reference index, run sample audits, write demo/summary.md."""
        from audit.demo import run_demo

        summary = run_demo(out=out, dataset=dataset, model=model, device=device, seed=seed, log=typer.echo)
        typer.echo(f"\nSummary: {summary}")
        typer.echo(f"Open the review app:  audit app --workspace {out}")
        typer.echo("   (or: streamlit run app/streamlit_app.py)")

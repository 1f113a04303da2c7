"""`audit embed ...`: inspect a CLIP model, train the tiny in-project CLIP, evaluate retrieval.

Thin: each command calls into audit.embed.*; heavy imports happen inside the commands.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(no_args_is_help=True)


@app.command("info")
def info(
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Model name, NAME@random:SEED, checkpoint or dir."),
    device: str = typer.Option("cpu", help="torch device"),
) -> None:
    """Load a model and print its name, weights sha256 and dimensions as JSON."""
    from audit.embed import load_embedder

    emb = load_embedder(model, device=device)
    typer.echo(json.dumps({**emb.describe(), "context_length": emb.context_length, "text_width": emb.text_width}, indent=2))


@app.command("train-tiny")
def train_tiny(
    dataset: list[Path] = typer.Option(..., "--dataset", "-d", help="Dataset dir(s) with manifest.parquet (repeat)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output model dir (model.pt + meta.json)."),
    minutes: Optional[float] = typer.Option(
        None, help="Training-time budget in minutes (time in optimiser steps, summed across resumes; decoding/eval excluded)."
    ),
    steps: Optional[int] = typer.Option(None, help="Number of optimiser steps (default 1000 if no --minutes)."),
    seed: int = typer.Option(0, help="Seed for init, split-independent shuffling and augmentation."),
    batch: int = typer.Option(128, help="Batch size."),
    lr: float = typer.Option(1e-3, help="Peak learning rate (AdamW, warm-up then cosine)."),
    threads: int = typer.Option(0, help="torch threads (0 = leave torch's default)."),
    device: str = typer.Option("cpu", help="torch device"),
) -> None:
    """Contrastively train the tiny CLIP on captioned datasets; resumes from OUT's last checkpoint."""
    from audit.embed.train import ClipTrainSettings
    from audit.embed.train import train_tiny as run

    cfg = ClipTrainSettings(
        datasets=tuple(dataset),
        out=out,
        minutes=minutes,
        steps=steps,
        seed=seed,
        batch=batch,
        lr=lr,
        threads=threads,
        device=device,
        command="audit " + " ".join(sys.argv[1:]) if sys.argv else "",
    )
    result = run(cfg)
    typer.echo(result.summary())


@app.command("eval")
def evaluate(
    dataset: list[Path] = typer.Option(..., "--dataset", "-d", help="Dataset dir(s) to evaluate on (held-out split)."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Model name, checkpoint or dir."),
    split: str = typer.Option("heldout", help="heldout | train | all"),
    limit: int = typer.Option(0, help="Evaluate at most this many items per dataset (0 = all)."),
    device: str = typer.Option("cpu", help="torch device"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Text→image and image→text recall@1/5/10 on a dataset's held-out split."""
    from audit.embed import load_embedder
    from audit.embed.evaluate import evaluate_dataset

    emb = load_embedder(model, device=device)
    results = [evaluate_dataset(emb, d, split=split, limit=limit or None) for d in dataset]
    if as_json:
        typer.echo(json.dumps([r.as_dict() for r in results], indent=2))
        return
    typer.echo(f"model {emb.name} ({emb.weights_sha256[:12]})")
    for r in results:
        typer.echo(r.line())

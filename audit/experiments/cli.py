"""`audit experiments …`: controlled experiments on the reference generator (thin calls into audit.experiments)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from audit import config
from audit.cli_renames import renamed

app = typer.Typer(no_args_is_help=True, help="Controlled experiments on the reference generator.")

# Options every experiment shares (the RunSettings budget); one definition so their help and defaults agree.
STEPS = typer.Option(None, "--steps", help="Training steps per generator.")
MINUTES = typer.Option(None, "--minutes", help="Training wall-time budget per generator.")
SEED = typer.Option(0, "--seed", help="Seed for the training set choice, training and sampling.")
SAMPLE_STEPS = typer.Option(25, "--sample-steps", help="DDIM steps when sampling.")
PRESET = typer.Option("small", "--preset", help="Generator architecture: small or tiny.")
BATCH = typer.Option(32, "--batch", help="Training batch size.")
CLIP = typer.Option(None, "--model", help="CLIP model used as the generators' text encoder (default: shipped tiny CLIP).")
#: Experiment commands accept the old spelling of the text-encoder option.
RENAMED = renamed({"--clip": "--model"})
BASELINE_SAMPLE = typer.Option(50, "--baseline-sample", help="Training pairs for the scan's baseline.")



def _table(rows: list[dict]) -> None:
    import pandas as pd

    typer.echo(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.3f}"))


@app.command("duplication", cls=RENAMED)
def duplication_cmd(
    out: Path = typer.Option(..., "--out", help="Experiment dir (dataset, model, index, samples, scan, report)."),
    levels: str = typer.Option("1,10,100", "--levels", help="Duplication factors, comma-separated."),
    items: int = typer.Option(3, "--items", help="Real items per level (each level has its own)."),
    steps: Optional[int] = STEPS,
    minutes: Optional[float] = MINUTES,
    seed: int = SEED,
    base_dataset: Path = typer.Option(config.REFERENCE_DIR, "--base-dataset", help="Where the real items come from."),
    synthetic: int = typer.Option(300, "--synthetic", help="Synthetic shape images in the training set."),
    n: int = typer.Option(4, "--n", help="Samples per caption."),
    sample_steps: int = SAMPLE_STEPS,
    preset: str = PRESET,
    batch: int = BATCH,
    clip: Optional[str] = CLIP,
    baseline_sample: int = BASELINE_SAMPLE,
) -> None:
    """Train ONE generator with items duplicated ×L per level; memorisation rate per level."""
    from audit.experiments.duplication import DuplicationSettings, parse_levels, run_duplication

    summary = run_duplication(DuplicationSettings(
        out=str(out), levels=parse_levels(levels), items=items, steps=steps, minutes=minutes, seed=seed,
        base_dataset=str(base_dataset), synthetic=synthetic, n=n, sample_steps=sample_steps, preset=preset,
        batch=batch, clip=clip, baseline_sample=baseline_sample))
    _table(summary["results"])
    typer.echo(f"{out}: report.html, results.parquet ({summary['train_steps']} training steps, {summary['seconds']:.0f} s)")


@app.command("optout", cls=RENAMED)
def optout_cmd(
    artist: str = typer.Option(..., "--artist", help="Author name as in the manifest."),
    out: Path = typer.Option(..., "--out", help="Experiment dir."),
    steps: Optional[int] = STEPS,
    minutes: Optional[float] = MINUTES,
    seed: int = SEED,
    base_dataset: Path = typer.Option(config.REFERENCE_DIR, "--base-dataset", help="Where the works come from."),
    works: int = typer.Option(4, "--works", help="How many of the artist's works to use."),
    others: int = typer.Option(4, "--others", help="Real items by other authors in the training set."),
    synthetic: int = typer.Option(300, "--synthetic", help="Synthetic shape images in the training set."),
    duplicate: int = typer.Option(10, "--duplicate", help="Duplication of the works in the with-artist model."),
    n: int = typer.Option(4, "--n", help="Samples per caption."),
    sample_steps: int = SAMPLE_STEPS,
    preset: str = PRESET,
    batch: int = BATCH,
    clip: Optional[str] = CLIP,
    baseline_sample: int = BASELINE_SAMPLE,
) -> None:
    """Train with and without an artist's works (exclude-author); how close generations come to the works."""
    from audit.experiments.optout import OptoutSettings, run_optout

    summary = run_optout(OptoutSettings(
        artist=artist, out=str(out), steps=steps, minutes=minutes, seed=seed, base_dataset=str(base_dataset),
        works=works, others=others, synthetic=synthetic, duplicate=duplicate, n=n, sample_steps=sample_steps,
        preset=preset, batch=batch, clip=clip, baseline_sample=baseline_sample))
    _table(summary["results"])
    typer.echo(f"{out}: report.html, results.parquet")


@app.command("erasure", cls=RENAMED)
def erasure_cmd(
    dataset: Path = typer.Option(..., "--dataset", help="Dataset dir the generators are trained on."),
    keys: List[str] = typer.Option(..., "--keys", help="Key of an item to erase (repeatable, or comma-separated)."),
    prompt: List[str] = typer.Option(..., "--prompt", help="Prompt to sample, e.g. the subject's caption (repeatable)."),
    duplicate: List[str] = typer.Option([], "--duplicate",
                                        help="KEY=N: show item KEY N times per epoch (repeatable); erased keys "
                                             "are duplicated in 'before' only."),
    out: Path = typer.Option(..., "--out", help="Experiment dir."),
    steps: Optional[int] = STEPS,
    minutes: Optional[float] = MINUTES,
    seed: int = SEED,
    n: int = typer.Option(4, "--n", help="Samples per prompt."),
    sample_steps: int = SAMPLE_STEPS,
    preset: str = PRESET,
    batch: int = BATCH,
    clip: Optional[str] = CLIP,
    baseline_sample: int = BASELINE_SAMPLE,
) -> None:
    """Train before/after erasing items by key (exclude-key); do the prompts still bring the items back?"""
    from audit.experiments.erasure import ErasureSettings, run_erasure
    from audit.generate.data import parse_duplicates

    key_list = tuple(k.strip() for spec in keys for k in spec.split(",") if k.strip())
    summary = run_erasure(ErasureSettings(
        dataset=str(dataset), keys=key_list, prompts=tuple(prompt), duplicates=parse_duplicates(duplicate),
        out=str(out), steps=steps, minutes=minutes, seed=seed, n=n, sample_steps=sample_steps, preset=preset,
        batch=batch, clip=clip, baseline_sample=baseline_sample))
    _table(summary["results"])
    typer.echo(f"{out}: report.html, results.parquet")

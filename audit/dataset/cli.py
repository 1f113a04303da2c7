"""`audit dataset …`: thin commands over audit.dataset.{reference,synthetic,ingest}."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from audit.cli_renames import renamed

app = typer.Typer(no_args_is_help=True)
#: The old spellings `--force` and `--tombstones` still work, with a warning.
RENAMED = renamed({"--force": "--overwrite", "--tombstones": "--removal-db"})


def _report(result, what: str) -> None:
    if result.up_to_date:
        typer.echo(f"{result.out}: up to date ({result.count} images); nothing to do")
        return
    typer.echo(
        f"{what}: wrote {result.count} images to {result.out}"
        + (f", {result.skipped} skipped (reasons in meta.json)" if result.skipped else "")
    )


@app.command("build-reference", cls=RENAMED)
def build_reference_cmd(
    out: Path = typer.Option(..., "--out", help="Dataset folder to write."),
    max_side: int = typer.Option(256, "--max-side", help="Longest side of stored images."),
    limit: Optional[int] = typer.Option(
        None, "--limit", help="At most N openclipart drawings, spread over categories (photos are always kept)."
    ),
    sources: str = typer.Option("openclipart,wallpapers,people", "--sources", help="Comma list of openclipart, wallpapers, people."),
    seed: int = typer.Option(0, "--seed"),
    image_format: str = typer.Option("jpeg", "--format", help="jpeg (q90) or png."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Rebuild OUT even if its inputs are unchanged."),
) -> None:
    """Assemble a training set of real images from Debian packages and PyPI sample data."""
    from audit.dataset.reference import build_reference

    _report(
        build_reference(out, max_side=max_side, limit=limit, sources=sources, seed=seed, image_format=image_format, force=overwrite),
        "reference",
    )


@app.command("build-synthetic", cls=RENAMED)
def build_synthetic_cmd(
    out: Path = typer.Option(..., "--out", help="Dataset folder to write."),
    n: int = typer.Option(2000, "--n", help="Number of images."),
    seed: int = typer.Option(0, "--seed"),
    size: int = typer.Option(64, "--size", help="Image side in pixels."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Rebuild OUT even if its inputs are unchanged."),
) -> None:
    """Controlled shapes x colours x backgrounds x positions with exact captions (deterministic per seed)."""
    from audit.dataset.synthetic import build_synthetic

    _report(build_synthetic(out, n=n, seed=seed, size=size, force=overwrite), "synthetic")


@app.command("ingest", cls=RENAMED)
def ingest_cmd(
    src: Path = typer.Argument(..., help="Folder of images, img2dataset output, or a LAION-style parquet file/folder."),
    out: Path = typer.Option(..., "--out", help="Dataset folder to write."),
    max_side: int = typer.Option(512, "--max-side"),
    keep_duplicates: bool = typer.Option(False, "--keep-duplicates", help="Keep exact duplicate files as separate rows."),
    image_format: str = typer.Option("jpeg", "--format", help="jpeg (q90) or png."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Rebuild OUT even if its inputs are unchanged."),
    tombstones: Optional[Path] = typer.Option(
        None, "--removal-db", help="Removal requests.db: refuse images erased on request (default $GENAUDIT_REMOVAL_DB)."
    ),
    no_tombstones: bool = typer.Option(False, "--no-tombstones", help="Do not enforce removal tombstones (logged)."),
) -> None:
    """Import your own images (captions from sidecar .txt/.json or file names) into a dataset folder."""
    from audit.dataset.ingest import ingest

    _report(
        ingest(src, out, max_side=max_side, keep_duplicates=keep_duplicates, image_format=image_format, force=overwrite,
               tombstones=tombstones, enforce_tombstones=not no_tombstones),
        "ingest",
    )


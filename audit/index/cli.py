"""`audit index ...`: build an index from a dataset, print its summary, hide keys with the denylist.

Thin: each command calls into audit.index; faiss and torch are imported only when a command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from audit.meta import weights_sha256

app = typer.Typer(no_args_is_help=True)


@app.command("build")
def build(
    source: Path = typer.Argument(..., help="Dataset dir, manifest.parquet, or a plain folder of images (ingested first)."),
    out: Path = typer.Option(..., "--out", "-o", help="Index directory to write."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Embedding model (default: the shipped tiny CLIP)."),
    factory: Optional[str] = typer.Option(None, "--factory", help="faiss factory string (default: exact up to "
                                          "config.EXACT_INDEX_MAX vectors, IVF+SQ8 above)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Rebuild even if OUT holds an index from other inputs."),
    device: str = typer.Option("cpu", help="torch device"),
    removal_db: Optional[Path] = typer.Option(None, "--removal-db", help="Removal requests.db whose tombstones are never "
                                              "indexed (default $GENAUDIT_REMOVAL_DB)."),
    no_tombstones: bool = typer.Option(False, "--no-tombstones", help="Do not enforce removal tombstones (logged)."),
) -> None:
    """Embed every image of a training set and write a searchable index (no-op when inputs are unchanged)."""
    from audit.index.build import build_index_report

    res = build_index_report(source, out, model=model, factory=factory, device=device, overwrite=overwrite,
                             removal_db=removal_db, enforce_tombstones=not no_tombstones)
    m = res.meta
    state = "up to date" if res.up_to_date else "built"
    if res.captions_added:
        state += " (caption index added)"
    typer.echo(f"{state}: {res.out} — {m['count']} vectors, dim {m['dim']}, {m['factory']}, "
               f"{m.get('skipped_count', 0)} skipped")


def summary_lines(meta: dict) -> list[str]:
    """Human summary of an index meta.json (shared with `audit search --json`-less output)."""
    params = ", ".join(f"{k}={v}" for k, v in (meta.get("params") or {}).items())
    how = "exact" if meta.get("exact") else f"approximate, exact re-rank x{meta.get('rerank_factor')}"
    return [
        f"model       {meta.get('model')} (weights sha256 {str(weights_sha256(meta))[:16]})",
        f"vectors     {meta.get('count')} x {meta.get('dim')} ({meta.get('vectors_dtype', 'float32')})",
        f"factory     {' '.join(x for x in (str(meta.get('factory')), params) if x)} ({how})",
        f"dataset     {meta.get('dataset_dir')}",
        f"manifest    {meta.get('manifest_rows')} rows, hash {str(meta.get('manifest_hash'))[:16]}",
        f"skipped     {meta.get('skipped_count', 0)}",
        "versions    " + ", ".join(f"{k} {v}" for k, v in sorted((meta.get("versions") or {}).items())
                                    if k in ("genaudit", "faiss-cpu", "open_clip_torch", "torch")),
    ]


@app.command("info")
def info(
    index_dir: Path = typer.Argument(..., help="Index directory."),
    as_json: bool = typer.Option(False, "--json", help="Print meta.json as JSON."),
) -> None:
    """Print what an index holds: model, size, factory, dataset, denylist."""
    import json

    from audit.errors import InputError
    from audit.index.denylist import read_denylist
    from audit.meta import read_meta

    if not index_dir.is_dir():
        raise InputError(f"index {index_dir} does not exist", "build it with `audit index build`")
    meta = read_meta(index_dir, kind="index")
    denied = len(read_denylist(index_dir))
    if as_json:
        typer.echo(json.dumps({**meta, "denylisted": denied}, indent=2, default=str))
        return
    typer.echo(f"index       {index_dir}")
    for line in summary_lines(meta):
        typer.echo(line)
    typer.echo(f"denylisted  {denied}")


@app.command("deny")
def deny(
    index_dir: Path = typer.Argument(..., help="Index directory."),
    keys: list[str] = typer.Argument(..., help="Manifest keys to hide from every query."),
    reason: str = typer.Option("", help="Why (e.g. a removal-request id)."),
) -> None:
    """Hide keys from search results at once (the index is rebuilt without them later)."""
    from audit.index.denylist import add_to_denylist

    n = add_to_denylist(index_dir, keys, reason)
    typer.echo(f"{n} key(s) added to the denylist of {index_dir}")

"""Top-level `audit search`: text or image query against an index, as a table, JSON or parquet."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Optional

import typer


def search(
    index: Path = typer.Option(..., "--index", "-i", help="Index directory (from `audit index build`)."),
    text: Optional[str] = typer.Option(None, "--text", "-t", help="Text query."),
    mode: Optional[str] = typer.Option(None, "--mode", help="With --text: hybrid (caption words + CLIP, reciprocal-rank "
                                       "fusion), clip, or keyword. Default: hybrid where the index has captions, else clip."),
    image: Optional[Path] = typer.Option(None, "--image", help="Image query (file)."),
    k: int = typer.Option(20, "-k", "--k", help="Number of results."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Query model (must be the index's; default: it)."),
    near_duplicates: bool = typer.Option(False, "--near-duplicates", help="With --image: perceptual-hash lookup "
                                         "(also the mirrored image) instead of CLIP."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Also write the results to this .parquet file."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON lines instead of a table."),
    device: str = typer.Option("cpu", help="torch device"),
) -> None:
    """Find the training items nearest to a text or an image."""
    import json

    from audit.errors import InputError
    from audit.index.search import hits_frame, open_index

    if (text is None) == (image is None):
        raise InputError("give exactly one of --text or --image")
    if k <= 0:
        raise InputError(f"-k must be positive, got {k}")
    if near_duplicates and image is None:
        raise InputError("--near-duplicates needs --image")
    if mode is not None and text is None:
        raise InputError("--mode applies to --text queries", "drop --mode, or query with --text")
    if image is not None and not image.is_file():
        raise InputError(f"{image}: file not found", "pass an existing image file to --image")
    idx = open_index(index)
    if model is not None:
        from audit.embed import load_embedder

        idx.use_embedder(load_embedder(model, device=device))
    if near_duplicates:
        assert image is not None  # checked above
        hits = idx.near_duplicates(image)[:k]
    elif image is not None:
        hits = idx.search_image(image, k=k)
    else:
        assert text is not None  # checked above
        hits = idx.search_text(text, k=k, mode=mode)
    if out is not None:
        from audit.atomic import atomic_path

        with atomic_path(out, ".parquet") as tmp:
            hits_frame(hits).to_parquet(tmp, index=False)
    if as_json:
        for h in hits:
            typer.echo(json.dumps(h.as_dict(), default=str))
        return
    what = f"{text!r} ({mode or idx.default_mode()})" if text is not None else str(image)
    _table(hits, title=f"{'near duplicates of' if near_duplicates else 'nearest to'} {what} in {index}")


def _table(hits, title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    just: Literal["left", "right"]
    for col, just in (("rank", "right"), ("score", "right"), ("matched", "left"), ("key", "left"), ("caption", "left"),
                      ("author", "left"), ("license", "left"), ("path", "left")):
        table.add_column(col, justify=just, overflow="fold")
    for h in hits:
        table.add_row(str(h.rank), f"{h.score:.4f}", h.evidence, h.key, h.caption or "", h.author or "", h.license or "",
                      h.path)
    console = Console()
    console.print(table)
    if not hits:
        console.print("no results")


def register(app: typer.Typer) -> None:
    app.command("search")(search)

"""`audit dataset card`: a thin command over audit.card (registered into `audit dataset` by the GROUPS table of audit/cli.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from audit import config
from audit.cli_renames import renamed

app = typer.Typer()


@app.command("card", cls=renamed({"--requests": "--removal-db"}))
def card_cmd(
    source: Path = typer.Argument(..., help="Dataset dir, manifest.parquet or index dir."),
    out: Path = typer.Option(..., "--out", help="Folder to write card.html, card.json and meta.json into."),
    registry: Optional[Path] = typer.Option(None, "--registry", help="Opt-out registry DB: report the opted-out share."),
    requests: Optional[Path] = typer.Option(
        None, "--removal-db", help="Removal-request DB (audit removal), or a text/CSV/parquet list of erased keys."
    ),
    prompts: Optional[Path] = typer.Option(
        None, "--prompts", help="Concept prompts: a JSON mapping group -> list of prompts, or lines `group: prompt`."
    ),
    compare: Optional[Path] = typer.Option(None, "--compare", help="An older manifest (or index) to compare against."),
    index: Optional[Path] = typer.Option(None, "--index", help="Index dir for concept coverage when SOURCE is a manifest."),
    near_threshold: int = typer.Option(config.PHASH_NEAR_DUPLICATE, "--near-threshold", help="pHash bits for near duplicates."),
    mirror: bool = typer.Option(True, "--mirror/--no-mirror", help="Also cluster horizontally flipped copies as near duplicates."),
) -> None:
    """Write a self-contained dataset card (HTML + JSON): counts, licences, authors, duplicates, opt-outs, concepts."""
    from audit.card import build_card, compare_cards, write_card

    card = build_card(
        source, index=index, registry=registry, requests=requests, prompts=prompts, near_threshold=near_threshold, mirror=mirror
    )
    comparison = None
    if compare is not None:  # same registry / requests, so opted-out and removal rows show before vs after
        comparison = compare_cards(
            build_card(compare, near_threshold=near_threshold, prompts=prompts, registry=registry, requests=requests, mirror=mirror), card
        )
    write_card(card, out, comparison)
    for w in card.warnings:
        typer.secho(f"warning: {w}", err=True, fg="yellow")
    typer.echo(
        f"card: {card.rows} rows, {len(card.licenses)} licence value(s), {card.authors_total} author value(s), "
        f"{len(card.exact_duplicates)} exact / {len(card.near_duplicates)} near-duplicate cluster(s)"
        + (f"; vs {compare}: +{comparison.added} / -{comparison.removed} rows" if comparison else "")
        + f" -> {out / 'card.html'}"
    )

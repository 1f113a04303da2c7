"""`audit optout …`: registry management, signal checks, manifest check/filter, and offline lookup."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from audit import config

app = typer.Typer(no_args_is_help=True, help="Opt-out registry, signals, and compliance checks.")
RegOpt = typer.Option(..., "--registry", help="SQLite registry file.")


@app.command()
def add(
    kind: str = typer.Argument(..., help="artist | url | url_prefix | domain | sha256 | phash | image"),
    value: str = typer.Argument(..., help="the name, URL, domain, hash, or an image FILE for kind=image"),
    registry: Path = RegOpt,
    alias: list[str] = typer.Option([], "--alias", help="artist alias (repeatable)"),
    scope: str = typer.Option("ai-training", help="ai-training | all-tdm | genai-training | ..."),
    source: str = typer.Option("", help="who sent it / where it came from"),
    received: Optional[str] = typer.Option(None, help="date received, YYYY-MM-DD (default today)"),
    evidence: str = typer.Option("", help="reference to the request or signal"),
    artist: Optional[str] = typer.Option(None, help="for kind=image: whose example it is"),
    model: Optional[str] = typer.Option(None, help="for kind=image: also store a CLIP embedding from this model"),
) -> None:
    """Add one entry (re-adding the same entry is a no-op)."""
    from audit.optout.registry import Registry

    with Registry(registry) as reg:
        if kind == "image":
            emb = None
            if model:
                from audit.embed import load_embedder

                emb = load_embedder(model)
            e, created = reg.add_image(value, artist=artist, embedder=emb, scope=scope, source=source,
                                       received=received, evidence=evidence)
        else:
            e, created = reg.add(kind, value, aliases=alias, scope=scope, source=source, received=received, evidence=evidence)
    typer.echo(f"{'added' if created else 'already present'}: #{e.id} {e.kind} {e.value} ({e.scope})")


@app.command("list")
def list_(registry: Path = RegOpt, kind: Optional[str] = None, all_: bool = typer.Option(False, "--all", help="include withdrawn"),
          log: bool = typer.Option(False, help="show the change log instead")) -> None:
    """List entries (or the append-only change log)."""
    from audit.optout.registry import open_registry

    with open_registry(registry) as reg:
        df = reg.log() if log else reg.frame(kind=kind, active_only=not all_)
    cols = list(df.columns) if log else ["id", "kind", "display", "aliases", "scope", "source", "received", "evidence", "active"]
    typer.echo(df[cols].to_string(index=False) if len(df) else "(empty)")


@app.command()
def remove(entry_id: int, registry: Path = RegOpt, reason: str = typer.Option(..., help="why it is withdrawn")) -> None:
    """Withdraw an entry (kept in history, marked inactive, logged)."""
    from audit.optout.registry import open_registry

    with open_registry(registry) as reg:
        e = reg.deactivate(entry_id, reason)
    typer.echo(f"withdrawn: #{e.id} {e.kind} {e.value}")


@app.command("import")
def import_(file: Path, registry: Path = RegOpt, fmt: Optional[str] = typer.Option(None, "--format", help="csv | json | list"),
            source: str = "", scope: str = "ai-training", received: Optional[str] = None,
            skip_invalid: bool = typer.Option(False, help="import the valid records, report the rest")) -> None:
    """Import CSV, JSON, or a Spawning-style plain list of URLs/domains (one transaction)."""
    from audit.optout.exchange import import_entries
    from audit.optout.registry import Registry

    with Registry(registry) as reg:
        s = import_entries(reg, file, fmt, skip_invalid=skip_invalid, source=source or file.name, scope=scope, received=received)
    typer.echo(f"imported {s.added} new, {s.duplicates} already present, {len(s.rejected)} rejected")
    for i, why in s.rejected[:20]:
        typer.echo(f"  record {i}: {why}")


@app.command("export")
def export_(file: Path, registry: Path = RegOpt, fmt: Optional[str] = typer.Option(None, "--format", help="csv | json | list"),
            all_: bool = typer.Option(False, "--all", help="include withdrawn entries")) -> None:
    """Export entries as CSV, JSON or a plain URL/domain list."""
    from audit.optout.exchange import export_entries
    from audit.optout.registry import open_registry

    with open_registry(registry) as reg:
        n = export_entries(reg, file, fmt, include_inactive=all_)
    typer.echo(f"wrote {n} entries to {file}")


UseOpt = typer.Option("train", "--use", help="the use asked about: train | ai-input | search")


@app.command()
def signals(
    url: str = typer.Argument("/", help="URL to fetch live, or the URL the stored files belong to with --offline files"),
    headers: Optional[Path] = None, html: Optional[Path] = None, robots_txt: Optional[Path] = typer.Option(None, "--robots"),
    ai_txt: Optional[Path] = typer.Option(None, "--ai-txt"), tdmrep: Optional[Path] = None, image: Optional[Path] = None,
    agent: str = typer.Option("img2dataset", help="the crawler's product token (robots.txt group, scoped directives)"),
    use: str = UseOpt, timeout: float = 10.0,
    record: Optional[Path] = typer.Option(None, help="registry: record a reservation found as a url entry"),
) -> None:
    """Read opt-out signals for a URL (live, or from stored headers/HTML/robots/ai.txt/tdmrep/image files).

    The answer is for one agent and one use: OPTED OUT, not opted out, or UNKNOWN with what could not be read."""
    from audit.optout import site
    from audit.optout.verdict import check_use

    check_use(use)
    offline = any(x is not None for x in (headers, html, robots_txt, ai_txt, tdmrep, image))
    if offline:
        v = site.decide(site.offline_signals(url, headers=headers, html=html, robots_txt=robots_txt, ai_txt=ai_txt,
                                             tdmrep_json=tdmrep, image=image, agent=agent), agent, url, use=use)
    else:
        v = site.check_url(url, timeout=timeout, agent=agent, use=use)
    flags = {"disallow": "RESERVES", "allow": "allows", "unknown": "UNKNOWN", "none": "note"}
    for s in v.signals:
        flag = flags[s.state] if s.applies_to(agent) else "other-agent"
        typer.echo(f"{flag:11} {s.kind:26} {s.directive[:60]:60} uses={','.join(s.uses):22} agent={s.agent or '*':14} "
                   f"{s.evidence[:80]}")
    for p in v.problems:
        typer.echo(f"problem: {p}")
    headline = v.headline + (" (no reservation)" if v.status == "not opted out" else "")
    typer.echo(f"verdict for {agent}, use {use}: {headline} — {v.reason}")
    if record and "://" in url:
        if not v.opted_out:
            typer.echo(f"not recorded: the answer is {v.status}")
            return
        from audit.optout.base import SCOPE_FOR_USE
        from audit.optout.registry import SCOPES, Registry

        scope = v.scope if v.scope in SCOPES else SCOPE_FOR_USE[use]
        with Registry(record) as reg:
            e, created = reg.add("url", url, scope=scope, source=f"signal:{v.binding[0].kind}", evidence=v.reason[:500])
        typer.echo(f"{'recorded' if created else 'already recorded'} as #{e.id}")


@app.command()
def crawlers() -> None:
    """The crawler table (audit/optout/crawlers.json): purpose, operator and source of each user agent."""
    from audit.optout.crawlers import crawlers as table
    from audit.optout.crawlers import table_version

    typer.echo(f"crawler table {table_version()}")
    for c in table():
        typer.echo(f"  {c.name:20} {c.purpose:13} {c.operator[:40]:40} {c.source}")


@app.command()
def check(
    manifest: Path,
    registry: Path = RegOpt,
    out: Path = typer.Option(..., help="matches.parquet"),
    index: Optional[Path] = typer.Option(None, help="index dir: CLIP matches against registered example images"),
    scan_images: bool = typer.Option(False, help="also read XMP/C2PA reservations inside each image file"),
    max_distance: int = typer.Option(8, help="perceptual-hash Hamming distance for near-duplicates"),
    min_clip: float = typer.Option(
        config.CLIP_DUPLICATE_COSINE, help="with --index: CLIP cosine to an example image that counts as a copy"
    ),
    use: str = UseOpt,
) -> None:
    """Every manifest row an opt-out covers, with the rule and why; rows whose answer is unknown go to <out>.unknown.parquet."""
    from audit.optout.apply import run_check

    res = run_check(manifest, registry, out, index=index, scan_images=scan_images, max_distance=max_distance, min_clip=min_clip,
                    use=use)
    unknown_file = out.with_name(out.stem + ".unknown.parquet")
    typer.echo(
        f"checked {res.rows_checked} rows: {res.counts.get('rows_covered', 0)} covered, "
        f"{res.counts.get('rows_unknown', 0)} unknown, "
        f"{len(res.matches)} matches, {len(res.problems)} rows with malformed URLs -> {out}, {unknown_file}"
    )
    typer.echo("  " + json.dumps({k: v for k, v in res.counts.items() if k.startswith("rule_")}))


@app.command("filter")
def filter_(
    manifest: Path,
    registry: Path = RegOpt,
    out: Path = typer.Option(..., help="clean dataset dir"),
    purpose: str = typer.Option("ai-training", help="ai-training | tdm | search (or a use: train | ai-input | search)"),
    use: Optional[str] = typer.Option(None, "--use", help="the use: train | ai-input | search (overrides --purpose)"),
    scan_images: bool = False,
    max_distance: int = 8,
    index: Optional[Path] = typer.Option(None, help="index dir: also exclude CLIP copies of registered example images"),
    min_clip: float = typer.Option(config.CLIP_DUPLICATE_COSINE, help="with --index: CLIP cosine that counts as a copy"),
) -> None:
    """Write the compliant manifest, an exclusion list with reasons, and the rows whose answer is unknown (with why)."""
    from audit.optout.apply import filter_dataset

    if use is not None:
        from audit.optout.verdict import check_use

        purpose = check_use(use)
    counts = filter_dataset(
        manifest, registry, out, purpose=purpose, scan_images=scan_images, max_distance=max_distance, index=index, min_clip=min_clip
    )
    kept, excluded = counts
    typer.echo(f"kept {kept}, excluded {excluded}, unknown {counts.unknown} -> {out}/manifest.parquet, "
               f"{out}/excluded.parquet, {out}/unknown.parquet")


@app.command()
def lookup(
    artist: Optional[str] = typer.Option(None, help="artist name"),
    alias: list[str] = typer.Option([], "--alias"),
    image: list[Path] = typer.Option([], "--image", help="image file(s) to look for"),
    index: Path = typer.Option(..., help="index dir (or a dataset dir for --artist)"),
    min_score: float = typer.Option(0.9, help="CLIP cosine threshold for image lookups"),
    limit: int = 50,
) -> None:
    """Offline 'Have I Been Trained?': artist name in author/caption, or image near-duplicates / CLIP neighbours."""
    from audit.errors import InputError
    from audit.optout.lookup import lookup_artist, lookup_image

    if not artist and not image:
        raise InputError("give --artist NAME or --image FILE")
    hits = lookup_artist(artist, index, tuple(alias)) if artist else []
    for f in image:
        hits += lookup_image(f, index, min_score=min_score)
    typer.echo(f"{len(hits)} training item(s) found")
    for h in hits[:limit]:
        typer.echo(f"  {h.key:20} {h.method:8} {h.reason}  [{(h.author or '')[:30]}] {h.caption[:60]}")

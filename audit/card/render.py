"""Render a DatasetCard (and optionally a comparison) to one self-contained HTML page; plots via matplotlib.

Computation is in build.py; this module only draws. Every image and plot is inlined as base64.
"""

from __future__ import annotations

import base64
import io
from html import escape
from pathlib import Path
from typing import Any, Sequence

from audit.atomic import atomic_dir, write_json, write_text
from audit.card.build import CardComparison, DatasetCard
from audit.images import fit_within, load_rgb
from audit.meta import make_meta, write_meta

STRIP_CLUSTERS = 6
STRIP_IMAGES = 8
CONCEPT_STRIPS = 3
CSS = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}"
       "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}"
       ".warn{background:#fff3cd;border:1px solid #e0c060;padding:.5em}.note{color:#555;font-size:90%}"
       ".cols{display:flex;gap:2em;flex-wrap:wrap}img{max-width:100%}")


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)
    return f'<img alt="plot" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def bar_chart(items: Sequence[tuple[str, int]], title: str, top: int = 15) -> str:
    if not items:
        return ""
    plt = _plt()
    items = list(items)[:top][::-1]
    fig, ax = plt.subplots(figsize=(6, 0.3 * len(items) + 0.8))
    ax.barh([str(k)[:40] for k, _ in items], [v for _, v in items], color="#4c72b0")
    ax.set_title(title)
    return _png(fig)


def histogram(values: Sequence[float], title: str, xlabel: str) -> str:
    if not len(values):
        return ""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 2.5))
    ax.hist(values, bins=min(40, max(5, len(set(values)))), color="#55a868")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    return _png(fig)


def strip(members: Sequence[dict], title: str) -> str:
    """One row of thumbnails (matplotlib figure) for a duplicate cluster or a concept."""
    plt = _plt()
    members = list(members)[:STRIP_IMAGES]
    fig, axes = plt.subplots(1, max(len(members), 1), figsize=(1.4 * max(len(members), 1), 1.7), squeeze=False)
    for ax, m in zip(axes[0], members):
        ax.set_xticks([])  # a frame, not axis("off"): blank white images stay visible as such
        ax.set_yticks([])
        ax.set_title(str(m["key"])[:18] + (" (flipped)" if m.get("mirrored") else ""), fontsize=6)
        try:
            ax.imshow(fit_within(load_rgb(m["path"]), 128))
        except Exception:  # a missing/undecodable file is shown as such, not fatal for the card
            ax.text(0.5, 0.5, "missing", ha="center", va="center")
    fig.suptitle(title, fontsize=8, y=1.1)
    return _png(fig)


def _table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> str:
    head = "".join(f"<th>{escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _pct(n: int, total: int) -> str:
    return f"{100 * n / total:.1f}%" if total else "–"


def _dups(card: DatasetCard, clusters: list[list[dict]], label: str) -> str:
    total = sum(len(c) for c in clusters)
    out = [f"<p>{len(clusters)} {label} cluster(s) covering {total} rows ({_pct(total, card.rows)}).</p>"]
    for i, c in enumerate(clusters[:STRIP_CLUSTERS], 1):
        out.append(strip(c, f"{label} cluster {i}: {len(c)} images"))
    return "\n".join(out)


def card_body(card: DatasetCard) -> str:
    n = card.rows
    h = [f"<h1>Dataset card: {escape(card.title)}</h1>",
         f"<p class=note>Input: {escape(card.input)} ({card.input_kind}); manifest hash {card.manifest_hash[:16]}</p>"]
    h += [f"<p class=warn>{escape(w)}</p>" for w in card.warnings]
    if n == 0:
        h.append("<p><b>This manifest has no rows.</b> There is nothing to describe.</p>")
        return "\n".join(h)
    h.append(f"<h2>Rows</h2><p><b>{n}</b> rows; columns: {escape(', '.join(card.columns))}</p>")
    h.append("<h3>Missing values (counted as “(unknown)”, never dropped)</h3>")
    h.append(_table([(k, v, _pct(v, n)) for k, v in card.unknown.items()], ["column", "rows unknown", "share"]))
    h.append("<h2>Sources and domains</h2><div class=cols>" + bar_chart(card.sources, "sources")
             + bar_chart(card.domains, "URL domains") + "</div>")
    h.append(_table([(k, v, _pct(v, n)) for k, v in card.sources[:30]], ["source", "rows", "share"]))
    h.append("<h2>Licences</h2>" + bar_chart(card.licenses, "licenses")
             + _table([(k, v, _pct(v, n)) for k, v in card.licenses], ["license", "rows", "share"]))
    tail = card.authors_tail
    h.append(f"<h2>Authors</h2><p>{card.authors_total} distinct values; top {len(card.authors_top)} shown, "
             f"long tail: {tail['values']} further authors covering {tail['rows']} rows.</p>"
             + bar_chart(card.authors_top, "top authors") + _table(card.authors_top, ["author", "rows"]))
    s = card.sizes
    h.append(f"<h2>Image sizes and formats</h2><p>{s['known']} rows with a size, {s['unknown']} unknown; width "
             f"{s['width']}, height {s['height']}.</p><div class=cols>"
             + histogram(s["longest_side"], "longest side", "pixels") + bar_chart(card.formats, "formats") + "</div>")
    c = card.captions
    h.append(f"<h2>Captions</h2><p>{c['with_caption']} with a caption, {c['without_caption']} without. Words: "
             f"{c['words']}; characters: {c['chars']}.</p><div class=cols>"
             + histogram(c["word_lengths"], "caption length", "words") + bar_chart(c["languages"], "language")
             + f"</div><p class=note>Language: {escape(c['language_method'])}</p>")
    h.append("<h2>Duplicates</h2>" + _dups(card, card.exact_duplicates, "exact")
             + _dups(card, card.near_duplicates, "near-duplicate")
             + f"<p class=note>{escape(card.duplicate_method)}</p>")
    h.append("<h2>Opt-outs</h2>")
    if card.optout is None:
        h.append("<p>Not checked (no registry given: pass --registry DB).</p>")
    else:
        o = card.optout
        h.append(f"<p>{o['rows_covered']} rows ({_pct(o['rows_covered'], n)}) covered by {o['entries_active']} "
                 f"active entries of {escape(o['registry'])}; by rule: {escape(str(o['by_rule']))}.</p>"
                 f"<p class=note>{escape(o['method'])}</p>")
    h.append("<h2>Removal requests</h2>")
    if card.removal is None:
        h.append("<p>Not checked (no requests given: pass --removal-db).</p>")
    else:
        r = card.removal
        h.append(f"<p>{r['erased_keys_listed']} erased items listed in {escape(r['requests'])}; "
                 f"{r['rows_still_present']} rows ({_pct(r['rows_still_present'], n)}) still in this manifest; "
                 f"{r['rows_requested']} rows named by requests (share {100 * r['share']:.1f}%)"
                 + (f": {escape(', '.join(r['keys'][:10]))}" if r["keys"] else "") + f".</p><p class=note>{escape(r['method'])}</p>")
    h.append("<h2>Concept coverage</h2>")
    if card.concepts:
        for g in card.concepts:
            h.append(f"<h3>{escape(g['group'])}" + (" (aggregate only)" if g["aggregate_only"] else "") + "</h3>")
            h.append(bar_chart([(p["prompt"], p["count"]) for p in g["prompts"]], g["group"], top=50))
            h.append(_table([(p["prompt"], p["count"], f"{100 * p['share']:.1f}%", p["mean_confidence"])
                             for p in g["prompts"]], ["prompt", "images", "share", "mean confidence"]))
            for p in sorted(g["prompts"], key=lambda p: -p["count"])[:CONCEPT_STRIPS]:
                if p["examples"]:
                    h.append(strip(p["examples"], f"{g['group']}: {p['prompt']} (top {len(p['examples'])})"))
    h.append(f"<p class=note>{escape(card.concept_note)}</p><p class=note>Prompts: "
             + escape("; ".join(f"{g}: {', '.join(ps)}" for g, ps in card.prompts.items())) + "</p>")
    return "\n".join(h)


def _figure_rows(o: DatasetCard, nw: DatasetCard) -> list[tuple[str, int, int, int]]:
    """Opted-out / removal rows before and after, when both cards were checked (e.g. before/after filtering)."""
    rows = []
    for label, attr, field in (("opted-out rows", "optout", "rows_covered"),
                               ("rows named by removal requests", "removal", "keys")):
        a, b = getattr(o, attr), getattr(nw, attr)
        if a is not None and b is not None:
            va, vb = (len(a[field]), len(b[field])) if field == "keys" else (a[field], b[field])
            rows.append((label, va, vb, vb - va))
    return rows


def comparison_body(cmp: CardComparison) -> str:
    o, nw = cmp.old, cmp.new
    h = [f"<h1>Comparison: {escape(o.title)} → {escape(nw.title)}</h1>",
         _table([("rows", o.rows, nw.rows, nw.rows - o.rows), ("authors", o.authors_total, nw.authors_total,
                 nw.authors_total - o.authors_total), ("exact duplicate clusters", len(o.exact_duplicates),
                 len(nw.exact_duplicates), len(nw.exact_duplicates) - len(o.exact_duplicates)),
                 ("near-duplicate clusters", len(o.near_duplicates), len(nw.near_duplicates),
                  len(nw.near_duplicates) - len(o.near_duplicates))] + _figure_rows(o, nw),
                ["", "old", "new", "change"]),
         f"<p><b>{cmp.added}</b> rows added, <b>{cmp.removed}</b> removed (by key).</p>"]
    if cmp.added_keys:
        h.append(f"<p class=note>added: {escape(', '.join(cmp.added_keys[:20]))}</p>")
    if cmp.removed_keys:
        h.append(f"<p class=note>removed: {escape(', '.join(cmp.removed_keys[:20]))}</p>")
    hdr = ["value", "old", "new", "change"]
    h += ["<h2>Licences</h2>", _table(cmp.license_deltas, hdr), "<h2>Authors (changed first)</h2>",
          _table(cmp.author_deltas[:30], hdr), "<h2>Sources</h2>", _table(cmp.source_deltas[:30], hdr)]
    return "\n".join(h)


def render_html(card: DatasetCard, comparison: CardComparison | None = None) -> str:
    body = card_body(card)
    if comparison is not None:
        body = comparison_body(comparison) + "<hr>" + body + "<hr>" + card_body(comparison.old)
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>Dataset card: {escape(card.title)}</title>"
            f"<style>{CSS}</style></head><body>{body}</body></html>")


def write_card(card: DatasetCard, out: str | Path, comparison: CardComparison | None = None) -> Path:
    """Write card.html, card.json and meta.json into `out` (replaced whole, atomically)."""
    out = Path(out)
    data = {"card": card.to_dict()}
    if comparison is not None:
        data["comparison"] = comparison.to_dict()
        data["compared_with"] = comparison.old.to_dict()
    html = render_html(card, comparison)
    with atomic_dir(out) as tmp:
        write_text(tmp / "card.html", html)
        write_json(tmp / "card.json", data)
        write_meta(tmp, make_meta("dataset-card", input=card.input, manifest_hash=card.manifest_hash,
                                  index_dir=card.index_dir, compared_with=comparison.old.input if comparison else None,
                                  prompts=card.prompts, near_threshold=card.near_threshold))
    return out

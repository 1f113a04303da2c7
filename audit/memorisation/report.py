"""Self-contained HTML report: summary, score histograms vs the training-set baseline, flagged pairs.

Everything is embedded (base64 JPEG thumbnails, matplotlib PNGs), so the file can be mailed or archived.
"""

from __future__ import annotations

import base64
import html
import io
import math
from dataclasses import asdict
from pathlib import Path

from audit.atomic import write_text
from audit.errors import AuditError
from audit.images import fit_within, load_rgb
from audit.memorisation.verdict import COPY, NOVEL, SIMILAR, Thresholds

THUMB_SIDE = 256
#: (score, threshold field, higher-is-more-similar) plotted in the histograms.
PLOTTED = (
    ("tiled_l2", "tiled_l2", False),
    ("aligned_l2", "aligned_l2", False),
    ("ssim", "ssim", True),
    ("inliers", "min_inliers", True),
    ("clip_cosine", "clip_similar", True),
    ("phash_distance", "phash_similar", False),
)
_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;font-size:14px}
.copy{color:#b00020;font-weight:bold}.similar{color:#b36b00;font-weight:bold}.novel{color:#2e7d32}
.pair{border:1px solid #ddd;padding:1em;margin:1em 0}.pair img{max-width:256px;margin-right:1em;border:1px solid #999}
.pass{color:#b00020}.fail{color:#555}.warn{background:#fff3cd;padding:.5em 1em;border-left:4px solid #b36b00}
"""


def thumb_b64(path: str | Path | None, side: int = THUMB_SIDE) -> str | None:
    """A base64 JPEG thumbnail, or None when the file is missing or unreadable."""
    if not path:
        return None

    try:
        img = fit_within(load_rgb(path), side)
    except (AuditError, OSError):
        return None
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=85)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _img_tag(b64: str | None, alt: str) -> str:
    if b64 is None:
        return f"<div><em>{html.escape(alt)}: image unavailable</em></div>"
    return f'<img alt="{html.escape(alt)}" src="data:image/jpeg;base64,{b64}">'


def histograms_png(gen: list[dict], base: list[dict], t: Thresholds) -> str:
    """Base64 PNG: one panel per score, generations vs baseline, threshold as a dashed line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(12, 6.5))
    for ax, (name, tname, _) in zip(axes.flat, PLOTTED):
        g = [r[name] for r in gen if _finite(r.get(name))]
        b = [r[name] for r in base if _finite(r.get(name))]
        vals = g + b
        bins = 20 if not vals else _bins(min(vals + [getattr(t, tname)]), max(vals + [getattr(t, tname)]))
        if b:
            ax.hist(b, bins=bins, alpha=0.5, label=f"baseline (train vs NN, n={len(b)})", color="#1f77b4", density=True)
        if g:
            ax.hist(g, bins=bins, alpha=0.5, label=f"generated (n={len(g)})", color="#d62728", density=True)
        ax.axvline(getattr(t, tname), color="k", ls="--", lw=1, label=f"threshold {getattr(t, tname):g}")
        ax.set_title(name)
        ax.legend(fontsize=7)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _finite(v) -> bool:
    return v is not None and not (isinstance(v, float) and math.isnan(v))


def _bins(lo: float, hi: float) -> list[float]:
    if hi <= lo:
        hi = lo + 1.0
    step = (hi - lo) / 20
    return [lo + i * step for i in range(21)]


def _score_table(scores) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(s.name)}</td><td>{'n/a' if not _finite(s.value) else f'{s.value:.4g}'}</td>"
        f"<td>{html.escape(s.op)} {s.threshold:g}</td><td class=\"{'pass' if s.passed else 'fail'}\">"
        f"{'met' if s.passed else 'not met'}</td></tr>"
        for s in scores
    )
    return f"<table><tr><th>score</th><th>value</th><th>threshold</th><th></th></tr>{rows}</table>"


def render(result, summary: dict, t: Thresholds) -> str:
    """The report as one HTML string."""
    counts = summary["counts"]
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>Memorisation report</title><style>{_CSS}</style>"
             "</head><body><h1>Memorisation report</h1>"]
    parts.append(f"<p>Generated images: <code>{html.escape(summary['generated_dir'])}</code> — index: "
                 f"<code>{html.escape(summary['index_dir'])}</code></p>")
    parts.append("<table><tr><th>verdict</th><th>images</th></tr>" + "".join(
        f"<tr><td class='{v}'>{v}</td><td>{counts.get(v, 0)}</td></tr>" for v in (COPY, SIMILAR, NOVEL))
        + f"<tr><td>skipped</td><td>{len(summary['skipped'])}</td></tr></table>")
    for w in summary["warnings"]:
        parts.append(f"<p class='warn'>⚠ {html.escape(w)}</p>")
    if summary["skipped"]:
        parts.append("<details><summary>Skipped files</summary><ul>" + "".join(
            f"<li><code>{html.escape(s['path'])}</code>: {html.escape(s['reason'])}</li>" for s in summary["skipped"])
            + "</ul></details>")
    parts.append("<h2>Thresholds</h2><table>" + "".join(
        f"<tr><td>{k}</td><td>{v:g}</td></tr>" for k, v in t.to_dict().items()) + "</table>")
    gen = [asdict(m.scores) for m in result.matches]
    base = [asdict(b) for b in result.baseline]
    parts.append("<h2>Score distributions</h2><p>Red: best pair of each generated image. Blue: baseline — "
                 "sampled training images against their own nearest other training image. Dashed: threshold.</p>")
    parts.append(f'<img alt="histograms" src="data:image/png;base64,{histograms_png(gen, base, t)}">')
    flagged = [m for m in result.matches if m.verdict.label in (COPY, SIMILAR)]
    flagged.sort(key=lambda m: (m.verdict.label != COPY, m.query_path))
    parts.append(f"<h2>Flagged images ({len(flagged)})</h2>")
    for m in flagged:
        dup = result.duplicate_counts.get(m.match_id)
        parts.append(
            f"<div class='pair'><h3 class='{m.verdict.label}'>{m.verdict.label}: {html.escape(Path(m.query_path).name)}</h3>"
            f"{_img_tag(thumb_b64(m.query_path), 'generated')}{_img_tag(thumb_b64(m.match_path), 'training')}"
            f"<p>Training image <code>{html.escape(str(m.match_key))}</code> — {html.escape(str(m.match_caption or ''))}"
            f" — author {html.escape(str(m.match_author or 'unknown'))}, licence {html.escape(str(m.match_license or 'unknown'))}"
            f"<br>Occurrences in the training set (near-duplicates included): <b>{dup if dup is not None else 'n/a'}</b></p>"
            f"<ul>{''.join(f'<li>{html.escape(r)}</li>' for r in m.verdict.reasons)}</ul>"
            f"{_score_table(m.verdict.scores)}</div>")
    parts.append("<h2>All images</h2><table><tr><th>generated</th><th>verdict</th><th>match</th><th>CLIP</th>"
                 "<th>tiled L2</th><th>inliers</th><th>SSIM</th></tr>")
    for m in result.matches:
        s = m.scores
        parts.append(f"<tr><td>{html.escape(Path(m.query_path).name)}</td><td class='{m.verdict.label}'>{m.verdict.label}</td>"
                     f"<td>{html.escape(str(m.match_key))}</td><td>{_fmt(s.clip_cosine)}</td><td>{_fmt(s.tiled_l2)}</td>"
                     f"<td>{s.inliers}</td><td>{_fmt(s.ssim)}</td></tr>")
    parts.append("</table>")
    st = summary.get("timings_s", {})
    parts.append("<h2>Stage timings</h2><table>" + "".join(f"<tr><td>{k}</td><td>{v:.2f} s</td></tr>" for k, v in st.items())
                 + "</table></body></html>")
    return "".join(parts)


def _fmt(v) -> str:
    return f"{v:.3f}" if _finite(v) else "n/a"


def write_report(dest: Path, result, summary: dict, t: Thresholds) -> None:
    write_text(dest, render(result, summary, t))

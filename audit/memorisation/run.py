"""Run a memorisation scan end to end and write its report directory atomically.

REPORT_DIR/
  matches.parquet  one row per generated image (query_path, verdict, reasons, match_*, score, evidence,
                   duplicate_count)
  pairs.parquet    every (query, candidate) pair that got pixel evidence
  baseline.parquet training images vs their nearest other neighbour (same scores)
  summary.json     counts, thresholds, warnings, skipped files, stage timings
  report.html      self-contained report (base64 thumbnails, embedded histograms)
  meta.json        kind="memorisation-report", index + inputs hashes, versions
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd

from audit.atomic import atomic_dir, write_json
from audit.errors import ArtefactError, InputError
from audit.generate.samples_layout import native_sizes
from audit.index import layout, open_index
from audit.memorisation.report import write_report
from audit.memorisation.scan import (
    Match,
    Scanner,
    ScanResult,
    baseline_scores,
    duplicate_counts,
    list_generated,
    load_queries,
    scan_images,
    verdict_counts,
)
from audit.memorisation.verdict import COPY, SIMILAR, Thresholds
from audit.meta import make_meta, sha256_strings, weights_sha256, write_meta

REPORT_FILES = ("matches.parquet", "summary.json", "report.html")
EVIDENCE_COLUMNS = ("tiled_l2", "inliers", "aligned_l2", "ssim", "overlap", "mirrored", "rotation_deg", "scale",
                    "phash_distance", "clip_cosine", "pixels_available", "lowres_ssim", "lowres_ratio")


def check_report_dir(out: Path, overwrite: bool) -> None:
    """Refuse to replace an existing report (or a non-report folder) unless asked."""
    if out.exists() and not out.is_dir():
        raise InputError(f"{out} exists and is not a folder", "choose another --out")
    if out.is_dir() and any(out.iterdir()):
        has_report = any((out / f).exists() for f in REPORT_FILES)
        if not overwrite:
            what = "a report" if has_report else "other files"
            raise ArtefactError(f"{out} already holds {what}", "pass --overwrite to replace it, or choose another --out")
        if not has_report and not (out / "meta.json").exists():
            raise ArtefactError(f"{out} holds files that are not a genaudit report", "choose an empty or new --out")


def matches_frame(matches: list[Match], dup: dict[int, int]) -> pd.DataFrame:
    rows = []
    for m in matches:
        ev = asdict(m.scores)
        rows.append({
            "query_path": m.query_path,
            "verdict": m.verdict.label,
            "reasons": "; ".join(m.verdict.reasons),
            "match_id": m.match_id,
            "match_key": m.match_key,
            "match_path": m.match_path,
            "match_caption": m.match_caption,
            "match_author": m.match_author,
            "match_license": m.match_license,
            "score": ev["clip_cosine"],
            **{c: ev[c] for c in EVIDENCE_COLUMNS},
            "scores": " | ".join(str(s) for s in m.verdict.scores),
            "duplicate_count": dup.get(m.match_id) if m.match_id is not None else None,
            "candidates": m.candidates,
            "notes": "; ".join(m.notes),
        })
    df = pd.DataFrame(rows)
    for col in ("match_id", "duplicate_count", "phash_distance"):
        if col in df:
            df[col] = df[col].astype("Int64")
    return df


def scan_folder(generated_dir: Path, index_dir: Path, out: Path, *, k: int = 10, thresholds: Thresholds | None = None,
                overwrite: bool = False, verify_k: int = 3, detector: str = "orb", baseline_sample: int = 100,
                workers: int = 2, seed: int = 0) -> dict[str, Any]:
    """Scan `generated_dir` against the index and write REPORT_DIR; returns the summary dict."""
    generated_dir, index_dir, out = Path(generated_dir), Path(index_dir), Path(out)
    t = thresholds or Thresholds()
    check_report_dir(out, overwrite)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    paths, skipped = list_generated(generated_dir)

    queries, bad = load_queries(paths, native_sizes(generated_dir))
    skipped += bad
    timings["load"] = time.perf_counter() - t0
    if not queries:
        listed = f"; skipped {len(skipped)} file(s)" if skipped else ""
        raise InputError(f"{generated_dir}: no readable images{listed}", "point at the folder of generated images")
    index = open_index(index_dir)
    scanner = Scanner(index, t, k=k, verify_k=verify_k, detector=detector, workers=workers)
    warnings = _index_warnings(index, index_dir)
    matches, pairs = scan_images(index, queries, scanner=scanner, timings=timings)

    t0 = time.perf_counter()
    flagged = sorted({m.match_id for m in matches if m.verdict.label in (COPY, SIMILAR) and m.match_id is not None})
    dup = duplicate_counts(index, flagged, t)
    timings["dups"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    baseline = baseline_scores(index, scanner, baseline_sample, seed, index.ids)  # ids.parquet `id`, ascending
    timings["baseline"] = time.perf_counter() - t0
    warnings += scanner.warnings + _pixel_warnings(matches)
    result = ScanResult(matches, skipped, warnings, timings, dup, baseline, pairs)

    summary = {
        "generated_dir": str(generated_dir), "index_dir": str(index_dir), "images": len(matches),
        "counts": verdict_counts(matches), "skipped": [{"path": p, "reason": r} for p, r in skipped],
        "warnings": warnings, "thresholds": t.to_dict(), "k": k, "verify_k": scanner.verify_k, "detector": detector,
        "baseline_pairs": len(baseline), "timings_s": {s: round(v, 4) for s, v in timings.items()},
        "stage_share": {s: round(v / max(sum(timings.values()), 1e-9), 4) for s, v in timings.items()},
    }
    with atomic_dir(out) as tmp:
        matches_frame(matches, dup).to_parquet(tmp / "matches.parquet", index=False)
        pd.DataFrame(pairs).to_parquet(tmp / "pairs.parquet", index=False)
        pd.DataFrame([asdict(b) for b in baseline]).to_parquet(tmp / "baseline.parquet", index=False)
        write_json(tmp / "summary.json", summary)
        write_report(tmp / "report.html", result, summary, t)
        write_meta(tmp, make_meta(
            "memorisation-report", index_dir=str(index_dir), index_model=index.meta.get("model"),
            index_weights_sha256=weights_sha256(index.meta), index_manifest_hash=index.meta.get("manifest_hash"),
            inputs_hash=sha256_strings(str(p) for p, _, _ in queries), seed=seed, thresholds=t.to_dict(),
        ))
    return summary


def _index_warnings(index, index_dir: Path) -> list[str]:
    out = []
    if not layout.has_hashes(index_dir):
        out.append("index has no hashes.parquet: perceptual-hash candidates and duplicate counts by pHash are missing")
    return out


def _pixel_warnings(matches: list[Match]) -> list[str]:
    missing = sum(1 for m in matches if m.match_id is not None and not m.scores.pixels_available)
    if missing:
        return [f"{missing} matched training image(s) have no stored pixels (no thumbnails / images moved): "
                "verdicts for them rest on CLIP and pHash only and are at most `similar`"]
    return []

"""Search quality on the judged query set: precision@10 and nDCG@10 of clip, keyword and hybrid text search
over the shipped reference set, beside the best any ranking can reach given the judgements.

    python benchmarks/search_quality.py [--index DIR] [--write-quality]

Builds the reference index (data/reference, shipped tiny CLIP) into a temp dir unless --index is given.
--write-quality writes data/tiny_clip/search_quality.json, which the app shows beside results.
Judgements: benchmarks/queries/reference_queries.json (how they were made: benchmarks/queries/README.md).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from audit.index.quality import QUALITY_NAME, best_precision_at, ndcg_at, precision_at  # noqa: E402

MODES = ("clip", "keyword", "hybrid")
K = 10


def evaluate(idx, queries: list[dict], keep: set[str] | None = None) -> dict[str, dict[str, float]]:
    """Mean P@10 / nDCG@10 per mode (and the best possible). `keep`: judge only these keys (held-out subset):
    results outside it are dropped from the ranking and from the judgements."""
    depth = K if keep is None else min(idx.count, 400)
    out: dict[str, dict[str, float]] = {}
    per_mode: dict[str, list[tuple[float, float]]] = {m: [] for m in MODES}
    best: list[float] = []
    for q in queries:
        rel = {k: g for k, g in q["relevant"].items() if keep is None or k in keep}
        if not rel:
            continue
        best.append(best_precision_at(rel, K))
        for m in MODES:
            ranked = [h.key for h in idx.search_text(q["query"], k=depth, mode=m)]
            if keep is not None:
                ranked = [k for k in ranked if k in keep]
            per_mode[m].append((precision_at(ranked, rel, K), ndcg_at(ranked, rel, K)))
    for m in MODES:
        out[m] = {"p@10": round(statistics.mean(p for p, _ in per_mode[m]), 3),
                  "ndcg@10": round(statistics.mean(n for _, n in per_mode[m]), 3)}
    out["best"] = {"p@10": round(statistics.mean(best), 3), "ndcg@10": 1.0}
    out["queries"] = len(best)  # type: ignore[assignment]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index", type=Path, help="index of data/reference (default: build one in a temp dir)")
    ap.add_argument("--queries", type=Path, default=ROOT / "benchmarks" / "queries" / "reference_queries.json")
    ap.add_argument("--write-quality", action="store_true", help=f"write data/tiny_clip/{QUALITY_NAME}")
    args = ap.parse_args()
    from audit import config
    from audit.index import build_index, open_index

    judged = json.loads(args.queries.read_text())
    with tempfile.TemporaryDirectory() as tmp:
        index = args.index or build_index(ROOT / "data" / "reference", Path(tmp) / "index")
        idx = open_index(index)
        idx.table  # noqa: B018  (whole table in memory: result rows are then read by position, not parsed per hit)
        t0 = time.perf_counter()
        full = evaluate(idx, judged["queries"])
        one_word = evaluate(idx, [q for q in judged["queries"] if " " not in q["query"]])
        heldout = evaluate(idx, judged["queries"], keep=set(judged["heldout_keys"]))
        secs = time.perf_counter() - t0
    rows = [("all queries", full), ("one-word queries", one_word), ("held-out items only", heldout)]
    print(f"judged queries: {args.queries.relative_to(ROOT) if args.queries.is_relative_to(ROOT) else args.queries}; "
          f"model {idx.meta.get('model')} ({str(idx.meta.get('model_fingerprint'))[:12]}); {secs:.1f} s\n")
    print("| subset | queries | clip P@10 / nDCG@10 | keyword P@10 / nDCG@10 | hybrid P@10 / nDCG@10 | best P@10 |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, r in rows:
        cells = " | ".join(f"{r[m]['p@10']:.3f} / {r[m]['ndcg@10']:.3f}" for m in MODES)
        print(f"| {name} | {r['queries']} | {cells} | {r['best']['p@10']:.3f} |")
    if args.write_quality:
        q = {"model": idx.meta.get("model"), "model_fingerprint": idx.meta.get("model_fingerprint"),
             "query_set": "benchmarks/queries/reference_queries.json", "k": K, "command": "python benchmarks/search_quality.py "
             "--write-quality", "created_unix": int(time.time()), "all": full, "one_word": one_word, "heldout": heldout}
        path = config.TINY_CLIP_DIR / QUALITY_NAME
        tmp_path = path.with_suffix(".tmp")
        tmp_path.write_text(json.dumps(q, indent=1) + "\n")
        tmp_path.replace(path)
        print(f"\nwrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()

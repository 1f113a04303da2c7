"""Dataset card: banded pHash near-duplicate clustering vs all-pairs faiss binary range search (baseline,
same run), on random 64-bit hashes with planted near duplicates; plus a full card on data/reference.

    nice -n 10 .venv/bin/python benchmarks/card_bench.py [--sizes 5000,20000,50000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def planted(n: int, seed: int = 0) -> tuple[np.ndarray, set[tuple[int, int]]]:
    rng = np.random.default_rng(seed)
    h = rng.integers(0, 2**63, size=n, dtype=np.uint64) | (rng.integers(0, 2, n, dtype=np.uint64) << np.uint64(63))
    k = max(10, n // 100)
    src, dst = np.arange(k), np.arange(n - k, n)
    h[dst] = h[src]
    for _ in range(4):  # up to 4 flipped bits per planted copy
        h[dst] ^= np.uint64(1) << rng.integers(0, 64, k).astype(np.uint64)
    return h, {(int(a), int(b)) for a, b in zip(src, dst)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="5000,20000,50000")
    args = ap.parse_args()
    import faiss

    from audit import config
    from audit.card.stats import near_clusters
    from audit.index.hashes import to_codes

    faiss.omp_set_num_threads(1)
    t = config.PHASH_NEAR_DUPLICATE
    print(f"near-duplicate clustering, threshold {t} bits, 1 thread")
    print(f"{'n':>7} {'pairs all':>12} {'pairs banded':>13} {'banded s':>9} {'faiss all-pairs s':>18} {'speed-up':>9} recall")
    for n in (int(s) for s in args.sizes.split(",")):
        h, truth = planted(n)
        t0 = time.perf_counter()
        clusters, compared = near_clusters(h, np.ones(n, bool), t)
        tb = time.perf_counter() - t0
        found = set()
        for c in clusters:
            cs = set(c)
            found |= {p for p in truth if p[0] in cs and p[1] in cs}
        idx = faiss.IndexBinaryFlat(64)
        codes = to_codes(h)
        idx.add(codes)
        t0 = time.perf_counter()
        lims, _, _ = idx.range_search(codes, t + 1)
        tf = time.perf_counter() - t0
        print(f"{n:>7} {n * (n - 1) // 2:>12} {compared:>13} {tb:>9.3f} {tf:>18.3f} {tf / tb:>8.2f}x "
              f"{len(found)}/{len(truth)}")

    from audit.card import build_card, write_card

    ref = config.REFERENCE_DIR
    if (ref / "manifest.parquet").is_file():
        t0 = time.perf_counter()
        card = build_card(ref)
        tc = time.perf_counter() - t0
        with tempfile.TemporaryDirectory() as d:
            t0 = time.perf_counter()
            write_card(card, Path(d) / "card")
            tr = time.perf_counter() - t0
            size = (Path(d) / "card" / "card.html").stat().st_size
        print(f"\ndata/reference: {card.rows} rows, {len(card.exact_duplicates)} exact / {len(card.near_duplicates)} "
              f"near clusters; compute {tc:.2f} s, render+write {tr:.2f} s, card.html {size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()

"""Dataset card at 100k rows (issue 10: < 60 s on 2 cores, near-duplicate clustering not quadratic).

1. Near-duplicate clustering on random 64-bit hashes with planted copies (1 %, 1-4 flipped bits): the card's
   exact multi-index hashing vs (a) the previous banded pigeonhole search (9 bands of 7-8 bits, exact buckets)
   and (b) brute force, all-pairs faiss `IndexBinaryFlat.range_search` — same run; clusters must be equal.
2. End to end: a synthetic 100k-row dataset + index dir with precomputed L2-normalised vectors (dim of the
   tiny random CLIP, 128) and planted near-duplicate pHashes in hashes.parquet; `build_card(index)` +
   `write_card`, with the new clustering and with the old banded one patched in (same run).

    nice -n 10 .venv/bin/python benchmarks/card_bench.py [--sizes 20000,50000,100000,200000] [--rows 100000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

MODEL = "genaudit-tiny-clip@random:0"


def planted(n: int, seed: int = 0) -> tuple[np.ndarray, set[tuple[int, int]]]:
    rng = np.random.default_rng(seed)
    h = rng.integers(0, 2**63, size=n, dtype=np.uint64) | (rng.integers(0, 2, n, dtype=np.uint64) << np.uint64(63))
    k = max(10, n // 100)
    src, dst = np.arange(k), np.arange(n - k, n)
    h[dst] = h[src]
    for _ in range(4):  # up to 4 flipped bits per planted copy
        h[dst] ^= np.uint64(1) << rng.integers(0, 64, k).astype(np.uint64)
    return h, {(int(a), int(b)) for a, b in zip(src, dst)}


def banded_old(hashes: np.ndarray, valid: np.ndarray, max_distance: int) -> tuple[list[list[int]], int]:
    """The card's previous search, kept here only as the baseline: max_distance+1 disjoint bands, every pair
    inside an exact band bucket compared (≈ bands · n² / 2^band_bits pairs for uniform hashes)."""
    from audit.card.stats import _UnionFind

    rows = np.flatnonzero(valid)
    uniq, inverse = np.unique(hashes[rows], return_inverse=True)
    uf = _UnionFind(len(uniq))
    edges = np.linspace(0, 64, max_distance + 2).astype(int)
    compared = 0
    for lo, hi in zip(edges[:-1], edges[1:]):
        band = uniq & np.uint64(((1 << int(hi - lo)) - 1) << int(lo))
        order = np.argsort(band, kind="stable")
        sb = band[order]
        starts = np.flatnonzero(np.r_[True, sb[1:] != sb[:-1]])
        for s, e in zip(starts, np.r_[starts[1:], len(sb)]):
            x = uniq[order[s:e]]
            for b0 in range(0, len(x) - 1, 1024):
                d = np.bitwise_count(x[b0:b0 + 1024, None] ^ x[None, b0 + 1:])
                i, j = np.nonzero(d <= max_distance)
                a, b = b0 + i, b0 + 1 + j
                keep = b > a
                compared += int(d.size)
                for p, q in zip(order[s:e][a[keep]].tolist(), order[s:e][b[keep]].tolist()):
                    uf.union(p, q)
    roots = np.array([uf.find(i) for i in range(len(uniq))])[inverse.ravel()]
    df = pd.DataFrame({"root": roots, "pos": rows})
    groups = [g["pos"].tolist() for _, g in df.groupby("root", sort=False) if len(g) > 1]
    return sorted(groups, key=lambda g: (-len(g), g[0])), compared


def clusters_from_pairs(n: int, a: np.ndarray, b: np.ndarray) -> set[tuple[int, ...]]:
    from audit.card.stats import _UnionFind

    uf = _UnionFind(n)
    for i, j in zip(a.tolist(), b.tolist()):
        uf.union(i, j)
    groups: dict[int, list[int]] = {}
    for i in np.unique(np.r_[a, b]).tolist():
        groups.setdefault(uf.find(i), []).append(i)
    return {tuple(sorted(g)) for g in groups.values() if len(g) > 1}


def clustering(sizes: list[int], t: int) -> None:
    import faiss

    from audit.card.stats import near_clusters, plan_substrings
    from audit.index.hashes import to_codes

    print(f"near-duplicate clustering, threshold {t} bits, 1 thread")
    print(f"{'n':>7} {'plan':>10} {'pairs verified':>15} {'new s':>7} {'old banded s':>13} {'faiss brute s':>14} "
          f"{'vs old':>7} {'vs brute':>9} equal recall")
    for n in sizes:
        h, truth = planted(n)
        ok = np.ones(n, bool)
        subs, r = plan_substrings(len(np.unique(h)), t)
        t0 = time.perf_counter()
        new, compared = near_clusters(h, ok, t)
        tn = time.perf_counter() - t0
        t0 = time.perf_counter()
        old, _ = banded_old(h, ok, t)
        to = time.perf_counter() - t0
        idx = faiss.IndexBinaryFlat(64)
        codes = to_codes(h)
        idx.add(codes)
        t0 = time.perf_counter()
        lims, _, labels = idx.range_search(codes, t + 1)
        q = np.repeat(np.arange(n), np.diff(lims).astype(np.int64))
        keep = q < labels
        brute = clusters_from_pairs(n, q[keep], labels[keep].astype(np.int64))
        tf = time.perf_counter() - t0
        got = {tuple(sorted(c)) for c in new}
        equal = got == brute == {tuple(sorted(c)) for c in old}
        member = {i: k for k, c in enumerate(got) for i in c}
        found = sum(1 for a, b in truth if a in member and member.get(b) == member[a])
        print(f"{n:>7} {f'{len(subs)}x r{r}':>10} {compared:>15} {tn:>7.2f} {to:>13.2f} {tf:>14.2f} "
              f"{to / tn:>6.1f}x {tf / tn:>8.1f}x {str(equal):>5} {found}/{len(truth)}")


def synthetic_index(root: Path, n: int, t: int) -> Path:
    """Dataset dir (manifest only, no image files) + index dir with precomputed vectors and planted pHashes."""
    from audit.embed import load_embedder
    from audit.index.build import finish_index_dir
    from audit.index.vectors import key_ids
    from audit.meta import make_meta, write_meta
    from audit.records import manifest_hash, write_manifest

    rng = np.random.default_rng(1)
    h, _ = planted(n, seed=2)
    keys = [f"img{i:06d}" for i in range(n)]
    lic = np.array(["CC-BY-4.0", "CC0-1.0", "CC-BY-SA-4.0", None], dtype=object)
    df = pd.DataFrame({
        "key": keys, "path": [f"images/{k}.jpg" for k in keys], "url": [f"https://img{i % 997}.example/{k}" for i, k in enumerate(keys)],
        "caption": [f"a photo of the {w} number {i}" for i, w in zip(range(n), rng.choice(["cat", "boat", "tree"], n))],
        "width": rng.integers(64, 2048, n), "height": rng.integers(64, 2048, n),
        "sha256": [f"{i // 2 if i < 200 else i:064x}" for i in range(n)],  # 100 exact pairs
        "phash": [f"{int(v):016x}" for v in h], "author": [f"author{i % 5000}" for i in range(n)],
        "license": lic[rng.integers(0, 4, n)], "source": [f"web:site{i % 40}" for i in range(n)],
    })
    ds = root / "ds"
    ds.mkdir()
    write_manifest(df, ds)
    write_meta(ds, make_meta("dataset", count=n))
    emb = load_embedder(MODEL)
    ids = key_ids(df["key"])
    order = np.argsort(ids, kind="stable")
    df, ids, h = df.iloc[order].reset_index(drop=True), ids[order], h[order]
    out, tmp = root / "index", root / "index.tmp"
    tmp.mkdir()
    raw = np.lib.format.open_memmap(tmp / "vectors.all.npy", mode="w+", dtype=np.float32, shape=(n, emb.dim))
    for lo in range(0, n, 20000):
        v = rng.standard_normal((min(20000, n - lo), emb.dim)).astype(np.float32)
        raw[lo:lo + len(v)] = v / np.linalg.norm(v, axis=1, keepdims=True)
    want = {"manifest_hash": manifest_hash(df), "model_fingerprint": emb.fingerprint, "factory_requested": "Flat",
            "dataset_dir": str(ds.resolve())}
    finish_index_dir(tmp, df, ids, raw, np.ones(n, bool), h, h ^ np.uint64(0xFFFF), [], emb, want,
                     out / "denylist.parquet", "synthetic")
    tmp.rename(out)
    print(f"\nsynthetic index: {n} rows, {emb.dim}-d vectors, planted near-duplicate pHashes in hashes.parquet")
    return out


def end_to_end(n: int, t: int) -> None:
    from audit.card import build_card, stats, write_card

    with tempfile.TemporaryDirectory() as d:
        index = synthetic_index(Path(d), n, t)
        new_fn = stats.near_clusters
        for name, fn in (("new (multi-index)", new_fn), ("old (banded)", banded_old)):
            stats.near_clusters = fn
            try:
                t0 = time.perf_counter()
                card = build_card(index)
                tc = time.perf_counter() - t0
            finally:
                stats.near_clusters = new_fn
            t0 = time.perf_counter()
            write_card(card, Path(d) / f"card-{name[:3]}")
            tr = time.perf_counter() - t0
            print(f"{name:>18}: build_card {tc:6.2f} s + render/write {tr:5.2f} s = {tc + tr:6.2f} s; "
                  f"{card.rows} rows, {len(card.exact_duplicates)} exact / {len(card.near_duplicates)} near clusters, "
                  f"{len(card.concepts or [])} concept groups")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="20000,50000,100000,200000")
    ap.add_argument("--rows", type=int, default=100_000)
    args = ap.parse_args()
    import faiss
    import torch

    from audit import config

    faiss.omp_set_num_threads(1)
    torch.set_num_threads(1)
    t = config.PHASH_NEAR_DUPLICATE
    clustering([int(s) for s in args.sizes.split(",") if s], t)
    if args.rows:
        end_to_end(args.rows, t)


if __name__ == "__main__":
    main()

"""Dataset card at 100k rows (issue 10: < 60 s on 2 cores, near-duplicate clustering not quadratic).

1. Near-duplicate clustering on random 64-bit hashes with planted copies (1 % direct and 1 % of flipped images'
   hashes, 1-4 bits off): the card's exact multi-index hashing, direct and mirror-aware, vs (a) the previous
   banded pigeonhole search (9 bands of 7-8 bits, exact buckets) and (b) brute force, all-pairs faiss
   `IndexBinaryFlat.range_search` (for mirror: queries h and h ^ MIRROR_MASK) — same run; clusters must be equal.
2. End to end: a synthetic 100k-row dataset + index dir with precomputed L2-normalised vectors (dim of the
   tiny random CLIP, 128) and the planted pHashes in hashes.parquet; `build_card(index)` + `write_card`, with
   mirror-aware clustering (the default), direct only, and the old banded one patched in (same run).
3. How good the derived flipped pHash is on real images: Hamming distance between phash(mirror(img)) and
   phash(img) ^ MIRROR_MASK (vs plain phash(img), the baseline that misses flips), over the test images and
   the first --mirror-max images of data/reference.

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


def planted(n: int, seed: int = 0) -> tuple[np.ndarray, set[tuple[int, int]], set[tuple[int, int]]]:
    """Random hashes; the last 2k rows are copies of rows 0..2k-1 (the second k of the flipped image's hash),
    each up to 4 bits off. Returns (hashes, direct pairs, mirrored pairs)."""
    from audit.card.stats import MIRROR_MASK

    rng = np.random.default_rng(seed)
    h = rng.integers(0, 2**63, size=n, dtype=np.uint64) | (rng.integers(0, 2, n, dtype=np.uint64) << np.uint64(63))
    k = max(10, n // 100)
    src, dst = np.arange(2 * k), np.arange(n - 2 * k, n)
    h[dst] = h[src]
    h[dst[k:]] ^= MIRROR_MASK
    for _ in range(4):  # up to 4 flipped bits per planted copy
        h[dst] ^= np.uint64(1) << rng.integers(0, 64, 2 * k).astype(np.uint64)
    pairs = [(int(a), int(b)) for a, b in zip(src, dst)]
    return h, set(pairs[:k]), set(pairs[k:])


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


def found(clusters: list[list[int]], truth: set[tuple[int, int]]) -> int:
    member = {i: k for k, c in enumerate(clusters) for i in c}
    return sum(1 for a, b in truth if a in member and member.get(b) == member[a])


def brute_faiss(h: np.ndarray, t: int, mirror: bool) -> set[tuple[int, ...]]:
    """All pairs within t bits by faiss range search (queries: the hashes, and with mirror their flipped forms)."""
    import faiss

    from audit.card.stats import mirror_hash
    from audit.index.hashes import to_codes

    n = len(h)
    idx = faiss.IndexBinaryFlat(64)
    idx.add(to_codes(h))
    qs, ls = [], []
    for q_h in ([h, mirror_hash(h)] if mirror else [h]):
        lims, _, labels = idx.range_search(to_codes(q_h), t + 1)
        qs.append(np.repeat(np.arange(n), np.diff(lims).astype(np.int64)))
        ls.append(labels.astype(np.int64))
    q, lab = np.concatenate(qs), np.concatenate(ls)
    keep = q != lab
    return clusters_from_pairs(n, np.minimum(q, lab)[keep], np.maximum(q, lab)[keep])


def timed(fn, *a, **kw):
    t0 = time.perf_counter()
    out = fn(*a, **kw)
    return out, time.perf_counter() - t0


def clustering(sizes: list[int], t: int) -> None:
    from audit.card.stats import near_clusters
    from audit.index.hamming import plan_self

    print(f"near-duplicate clustering, threshold {t} bits, 1 thread; planted: 1 % direct + 1 % flipped copies")
    print(f"{'n':>7} {'plan':>8} {'pairs':>11} {'direct s':>9} {'old banded s':>13} {'brute s':>8} {'vs old':>7} "
          f"{'vs brute':>9} eq {'found d/m':>14} | {'plan':>8} {'pairs':>11} {'mirror s':>9} {'brute s':>8} "
          f"{'vs brute':>9} eq {'found d/m':>14}")
    for n in sizes:
        h, direct, mirrored = planted(n)
        ok = np.ones(n, bool)
        p = plan_self(len(np.unique(h)), t)
        subs, r = p.segments, p.radius
        (new, compared), tn = timed(near_clusters, h, ok, t)
        (old, _), to = timed(banded_old, h, ok, t)
        brute, tf = timed(brute_faiss, h, t, False)
        got = {tuple(sorted(c)) for c in new}
        equal = got == brute == {tuple(sorted(c)) for c in old}
        pm = plan_self(len(np.unique(np.minimum(h, h ^ np.uint64(0x5555555555555555)))), t, mirror=True)
        subs_m, r_m = pm.segments, pm.radius
        (newm, compared_m), tm = timed(near_clusters, h, ok, t, mirror=True)
        brute_m, tfm = timed(brute_faiss, h, t, True)
        equal_m = {tuple(sorted(c)) for c in newm} == brute_m
        print(f"{n:>7} {f'{len(subs)}x r{r}':>8} {compared:>11} {tn:>9.2f} {to:>13.2f} {tf:>8.2f} {to / tn:>6.1f}x "
              f"{tf / tn:>8.1f}x {'Y' if equal else 'N':>2} {f'{found(new, direct)}/{len(direct)}':>7}"
              f"{f' {found(new, mirrored)}/{len(mirrored)}':>7} | {f'{len(subs_m)}x r{r_m}':>8} {compared_m:>11} "
              f"{tm:>9.2f} {tfm:>8.2f} {tfm / tm:>8.1f}x {'Y' if equal_m else 'N':>2} "
              f"{f'{found(newm, direct)}/{len(direct)}':>7}{f' {found(newm, mirrored)}/{len(mirrored)}':>7}")


def synthetic_index(root: Path, n: int, t: int) -> Path:
    """Dataset dir (manifest only, no image files) + index dir with precomputed vectors and planted pHashes."""
    from audit.embed import load_embedder
    from audit.index.build import finish_index_dir
    from audit.index.vectors import key_ids
    from audit.meta import make_meta, write_meta
    from audit.records import manifest_hash, write_manifest

    rng = np.random.default_rng(1)
    h, _, _ = planted(n, seed=2)
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
    want = {"manifest_hash": manifest_hash(df), "weights_sha256": emb.weights_sha256, "factory_requested": "Flat",
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
        for name, fn, mirror in (("multi-index + mirror", new_fn, True), ("multi-index direct", new_fn, False),
                                 ("old (banded)", banded_old, False)):
            stats.near_clusters = fn if fn is new_fn else (lambda h, ok, t, mirror=False: banded_old(h, ok, t))
            try:
                t0 = time.perf_counter()
                card = build_card(index, mirror=mirror)
                tc = time.perf_counter() - t0
            finally:
                stats.near_clusters = new_fn
            t0 = time.perf_counter()
            write_card(card, Path(d) / f"card-{name.replace(' ', '_')}")
            tr = time.perf_counter() - t0
            print(f"{name:>20}: build_card {tc:6.2f} s + render/write {tr:5.2f} s = {tc + tr:6.2f} s; "
                  f"{card.rows} rows, {len(card.exact_duplicates)} exact / {len(card.near_duplicates)} near clusters, "
                  f"{len(card.concepts or [])} concept groups")


def mirror_accuracy(dirs: list[str], limit: int) -> None:
    import imagehash
    from PIL import ImageOps

    from audit.card.stats import MIRROR_MASK, hash_distance
    from audit.images import load_rgb

    files = []
    for d in dirs:
        found_ = sorted(p for p in Path(d).glob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
        files += found_[:limit]
    derived, plain = [], []
    for f in files:
        img = load_rgb(f)
        a = int(str(imagehash.phash(img)), 16)
        b = int(str(imagehash.phash(ImageOps.mirror(img))), 16)
        derived.append(int(hash_distance(np.uint64(a) ^ MIRROR_MASK, np.uint64(b))))
        plain.append(int(hash_distance(a, b)))
    d, p = np.array(derived), np.array(plain)
    print(f"\nflipped pHash on {len(files)} real images ({', '.join(dirs)}): bits between phash(mirror(img)) and")
    for name, x in (("phash(img) ^ MIRROR_MASK", d), ("phash(img) (no mirror)", p)):
        print(f"  {name:>24}: median {np.median(x):.0f}, p90 {np.percentile(x, 90):.0f}, p99 {np.percentile(x, 99):.0f}, "
              f"max {x.max()}; within 8 bits: {(x <= 8).mean():.1%}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="20000,50000,100000,200000")
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--mirror-images", default="tests/data/images,data/reference/images")
    ap.add_argument("--mirror-max", type=int, default=300)
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
    if args.mirror_images:
        mirror_accuracy([d for d in args.mirror_images.split(",") if d], args.mirror_max)


if __name__ == "__main__":
    main()

"""Removal benchmark: how fast an erased subject disappears from search, and what the whole erasure costs.

Baseline (same run): a plain `build_index(..., overwrite=True)` of the same dataset — the rebuild every erasure
needs anyway. Reported: time until the subject is hidden from queries (tombstone + denylist), the full journaled
erasure (manifest rewrite, file deletion, rebuild, state changes, log rows) as a ratio of the baseline, and audit-log
verification speed over many rows vs a plain SELECT of the same rows.

    nice -n 10 .venv/bin/python benchmarks/removal_bench.py --n 1000

Locate at scale (`--locate-total 1000000`, `--skip-erase` to run only this part): the subject's real photo and a few
synthetic images indexed for real, padded to N items with synthetic unit vectors and random 64-bit pHashes in the
index layout (memorisation_bench.build_big_index, faiss factory chosen by audit.index.vectors for that size).
Timed: the first `find_hits` of the process (opens the index and loads the CLIP model: what a one-shot
`audit removal locate` pays), then `--runs` calls each with the index cache cleared (reopen every time, the
behaviour before the cache) and `--runs` calls on the cached index (app, batch of requests); baseline in the same
run: numpy brute force (query embedding + cosine over all vectors + top-k, Hamming distance over all pHashes) on
in-memory arrays.

Erase at scale (`--erase-total 100000 --erase-items 1000`, `--skip-erase` skips the small run): `--erase-items`
real 64 px images (captions naming the subject) embedded for real, padded with manifest rows + synthetic vectors to
`--erase-total` through the shared build tail (audit.index.build.finish_index_dir), so dataset and index are
consistent as after `audit index build`. Then the real request flow: locate by name (all items), confirm, `erase`
(tombstones, denylist, 100k-row manifest rewrite, file deletion, rebuild reusing stored vectors, states, log).
Baselines in the same run: the build tail alone over the same vectors (faiss train/add + tables; the floor of any
rebuild) and the measured embedding rate of the real images, extrapolated to re-embedding every remaining row.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("GENAUDIT_PROGRESS", "0")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000, help="synthetic training images besides the subject's photo")
    ap.add_argument("--log-rows", type=int, default=20000)
    ap.add_argument("--model", default="genaudit-tiny-clip@random:0")
    ap.add_argument("--locate-total", type=int, default=0, help="also time locate over an index of this many items")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--fresh-runs", type=int, default=5, help="new processes timed for a one-shot locate")
    ap.add_argument("--skip-erase", action="store_true", help="skip the small erase run (only the --*-total parts)")
    ap.add_argument("--erase-total", type=int, default=0, help="also erase --erase-items items from an index this big")
    ap.add_argument("--erase-items", type=int, default=1000)
    ap.add_argument("--erase-real", action="store_true",
                    help="every --erase-total row a real image (slow: embeds all); baseline = that full build_index")
    args = ap.parse_args()
    if args.locate_total:
        locate_at_scale(args.locate_total, args.model, args.runs, args.fresh_runs)
    if args.erase_total:
        erase_at_scale(args.erase_total, args.erase_items, args.model, args.erase_real)
    if args.skip_erase:
        return

    import shutil

    import skimage.data as sd
    import torch
    from PIL import Image

    torch.set_num_threads(1)
    from audit.dataset.ingest import ingest
    from audit.dataset.synthetic import build_synthetic
    from audit.index import build_index, open_index
    from audit.removal import append_log, confirm_hits, connect, create_request, erase, locate, transition, verify_log

    root = Path(tempfile.mkdtemp(prefix="removal_bench."))
    try:
        build_synthetic(root / "synth", n=args.n, size=64)
        src = root / "src"
        src.mkdir()
        for p in (root / "synth" / "images").iterdir():
            shutil.copy2(p, src / p.name)
        Image.fromarray(sd.astronaut()).resize((128, 128)).save(src / "astronaut.png")
        ingest(src, root / "ds")
        build_index(root / "ds", root / "idx", model=args.model)

        t = time.perf_counter()
        build_index(root / "ds", root / "idx", model=args.model, overwrite=True)
        baseline = time.perf_counter() - t

        conn = connect(root / "r.db")
        r = create_request(conn, "Eileen Collins", "e@example.org")
        transition(conn, r.id, "verified")
        t = time.perf_counter()
        locate(conn, r.id, root / "idx", photo=src / "astronaut.png")
        t_locate = time.perf_counter() - t
        confirm_hits(conn, r.id, ["astronaut"])
        marks: dict[str, float] = {}
        t0 = time.perf_counter()
        erase(conn, r.id, root / "idx", _before_step=lambda s: marks.setdefault(s, time.perf_counter()))
        total = time.perf_counter() - t0
        hidden = marks["manifest"] - t0  # tombstone + denylist done: queries no longer return the subject
        idx = open_index(root / "idx")
        assert "astronaut" not in {h.key for h in idx.search_image(src / "astronaut.png", k=5)}

        from audit.removal.store import transaction

        with transaction(conn):  # one transaction: the bench measures verification, not fsyncs
            for i in range(args.log_rows):
                append_log(conn, "bench", r.id, [f"k{i}"])
        runs_v, runs_s = [], []
        for _ in range(3):
            t = time.perf_counter()
            ok = verify_log(conn).ok
            runs_v.append(time.perf_counter() - t)
            t = time.perf_counter()
            conn.execute("SELECT * FROM audit_log ORDER BY seq").fetchall()
            runs_s.append(time.perf_counter() - t)
        assert ok
        rows = args.log_rows + 10
        v, s = statistics.median(runs_v), statistics.median(runs_s)
        print(f"| images in index | {args.n + 1} |  |")
        print(f"| baseline: index rebuild | {baseline:.2f} s | 1.00× |")
        print(f"| locate by photo (pHash + CLIP) | {t_locate:.2f} s | {t_locate / baseline:.3f}× |")
        print(f"| subject hidden from queries (tombstone + denylist) | {hidden * 1000:.1f} ms | {hidden / baseline:.4f}× |")
        print(f"| full journaled erasure incl. rebuild | {total:.2f} s | {total / baseline:.2f}× |")
        print(f"| verify-log ({rows} rows) vs plain SELECT | {rows / v:,.0f} rows/s | {v / s:.1f}× the SELECT time |")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _stats(runs: list[float]) -> tuple[float, float]:
    import numpy as np

    return statistics.median(runs), float(np.percentile(runs, 99))


#: A one-shot `audit removal locate` process: library imports timed apart from the first (cold) and second call.
_FRESH = """
import json, os, sys, time
os.environ.setdefault("GENAUDIT_PROGRESS", "0")
t0 = time.perf_counter()
import torch; torch.set_num_threads(1)
import faiss, imagehash, open_clip, pandas, pyarrow.parquet, scipy.fftpack  # what a locate imports, timed apart
from audit.removal import find_hits
t1 = time.perf_counter()
keys = {h.key for h in find_hits(sys.argv[1], photo=sys.argv[2])}
t2 = time.perf_counter()
find_hits(sys.argv[1], photo=sys.argv[2])
t3 = time.perf_counter()
print(json.dumps({"imports": t1 - t0, "first": t2 - t1, "second": t3 - t2, "found": "astronaut" in keys}))
"""


def fresh_process(index_dir: Path, query: Path, runs: int) -> None:
    """Median over `runs` new Python processes: imports, first find_hits (cold open + model), second (cached)."""
    import json
    import subprocess
    import sys

    got = [json.loads(subprocess.run([sys.executable, "-c", _FRESH, str(index_dir), str(query)], check=True,
                                     capture_output=True, text=True).stdout.strip().splitlines()[-1]) for _ in range(runs)]
    assert all(g["found"] for g in got)
    med = {k: statistics.median(g[k] for g in got) for k in ("imports", "first", "second")}
    print(f"| new process ({runs} runs, median): library imports (torch, open_clip, faiss, pandas…) | "
          f"{med['imports']:.2f} s | |")
    print(f"| new process: first find_hits (open index + build CLIP model + lookups), {runs} runs | "
          f"{med['first'] * 1000:.0f} ms median, {max(g['first'] for g in got) * 1000:.0f} ms max | |")
    print(f"| new process: second find_hits (cached) | {med['second'] * 1000:.0f} ms median | |")


def locate_at_scale(total: int, model: str, runs: int, fresh_runs: int = 5) -> None:
    """Median / p99 of locating the subject's photo among `total` items, vs numpy brute force in the same run."""
    import shutil
    import sys

    import numpy as np
    import pandas as pd
    import skimage.data as sd
    import torch
    from PIL import Image

    torch.set_num_threads(1)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from memorisation_bench import build_big_index

    from audit import config
    from audit.dataset.synthetic import build_synthetic
    from audit.perceptual import phash
    from audit.removal import find_hits

    root = Path(tempfile.mkdtemp(prefix="removal_locate_bench."))
    try:
        build_synthetic(root / "synth", n=20, size=64)
        photo = root / "astronaut.png"
        Image.fromarray(sd.astronaut()).resize((128, 128)).save(photo)
        indexed = [photo, *sorted((root / "synth" / "images").iterdir())]
        t = time.perf_counter()
        idx = build_big_index(root, indexed, total, model, seed=0)
        t_build = time.perf_counter() - t
        big_dir = idx.dir
        query = root / "subject_sent.jpg"  # what the subject sends: a re-encoded copy of the indexed photo
        Image.open(photo).save(query, quality=85)

        from audit.index.cache import clear_index_cache

        del idx  # nothing opened yet in this process except by the build: measure a real first call
        clear_index_cache()
        t = time.perf_counter()
        found = {h.key for h in find_hits(big_dir, photo=query)}
        first = time.perf_counter() - t
        assert "astronaut" in found, found
        reopen, warm, brute = [], [], []
        for _ in range(runs):
            clear_index_cache()
            t = time.perf_counter()
            hits = find_hits(big_dir, photo=query)
            reopen.append(time.perf_counter() - t)
            assert "astronaut" in {h.key for h in hits}
        for _ in range(runs):
            t = time.perf_counter()
            hits = find_hits(big_dir, photo=query)
            warm.append(time.perf_counter() - t)
            assert "astronaut" in {h.key for h in hits}
        vecs = np.load(big_dir / "vectors.npy")
        codes = pd.read_parquet(big_dir / "hashes.parquet")["phash"].to_numpy(np.uint64)
        keys = pd.read_parquet(big_dir / "ids.parquet")["key"].to_numpy()
        from audit.index.cache import cached_index

        idx = cached_index(big_dir)
        emb = idx.embedder
        for _ in range(runs):
            t = time.perf_counter()
            img = Image.open(query).convert("RGB")
            q = emb.embed_images([img], progress=False)[0]
            s = vecs @ q
            top = np.argpartition(-s, 10)[:10]
            top = top[np.argsort(-s[top])]
            ph = np.uint64(phash(img))
            dist = np.bitwise_count(np.bitwise_xor(codes, ph))
            near = np.flatnonzero(dist <= config.PHASH_NEAR_DUPLICATE)
            brute.append(time.perf_counter() - t)
        assert "astronaut" in set(keys[top]) | set(keys[near])
        (cm, cp), (wm, wp), (bm, bp) = _stats(reopen), _stats(warm), _stats(brute)
        print(f"| items in index | {len(vecs):,} ({vecs.shape[1]}-d, factory {idx.meta.get('factory')}) | |")
        print(f"| synthetic index build (once) | {t_build:.1f} s | |")
        print(f"| baseline: numpy brute force (embed + cosine + Hamming, arrays in RAM) | {bm * 1000:.0f} ms median, "
              f"{bp * 1000:.0f} ms p99 | 1.00× |")
        print(f"| first find_hits in this process (libraries imported; open index + build CLIP + lookups) | {first * 1000:.0f} ms | "
              f"{first / bm:.2f}× |")
        print(f"| find_hits, index cache cleared before each of {runs} runs (reopen + model load every call) | "
              f"{cm * 1000:.0f} ms median, {cp * 1000:.0f} ms p99 | {cm / bm:.2f}× |")
        print(f"| find_hits on the cached index, {runs} runs | {wm * 1000:.0f} ms median, {wp * 1000:.0f} ms p99 "
              f"| {wm / bm:.2f}× |")
        print(f"| subject's photo found | {'astronaut' in found} ({len(found)} candidate key(s)) | |")
        fresh_process(big_dir, query, fresh_runs)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _subject_captions(ds: Path, rows, read_manifest, write_manifest) -> None:
    df = read_manifest(ds)
    df.loc[rows, "caption"] = "photo of Jane Doe: " + df.loc[rows, "caption"].astype(str)
    write_manifest(df, ds)


def _padded_world(root: Path, total: int, items: int, model: str) -> tuple[Path, Path, list[tuple[str, float]]]:
    """`items` real images + manifest-only padding rows with synthetic vectors, written by the shared build tail."""
    import numpy as np
    import pandas as pd

    from audit.atomic import atomic_dir
    from audit.dataset.synthetic import build_synthetic
    from audit.embed import load_embedder
    from audit.index import build_index
    from audit.index.build import finish_index_dir
    from audit.index.vectors import key_ids
    from audit.records import MANIFEST_NAME, manifest_hash, read_manifest, write_manifest

    ds = root / "ds"
    build_synthetic(ds, n=items, size=64)
    _subject_captions(ds, slice(None), read_manifest, write_manifest)
    real = read_manifest(ds)
    load_embedder(model)  # imports warm, as in a long-lived process; the build below still loads the model once
    t = time.perf_counter()
    real_idx = build_index(ds, root / "real_idx", model=model)  # the real images, embedded for real
    rate = items / (time.perf_counter() - t)

    rng = np.random.default_rng(0)
    n_pad = total - items
    pad = real.iloc[rng.integers(0, items, n_pad)].reset_index(drop=True)
    pad["key"] = [f"pad-{i:07d}" for i in range(n_pad)]
    pad["path"] = [f"images/pad-{i:07d}.png" for i in range(n_pad)]  # manifest-only rows: no pixels needed
    pad["sha256"] = [rng.bytes(32).hex() for _ in range(n_pad)]
    pad["caption"] = "synthetic padding row"
    pad["source"] = "removal_bench padding"
    write_manifest(pd.concat([real, pad], ignore_index=True), ds)
    df = read_manifest(ds)
    emb = load_embedder(model)
    want = {"manifest_hash": manifest_hash(df), "weights_sha256": emb.weights_sha256, "factory_requested": None,
            "dataset_dir": str(ds.resolve())}
    ids = key_ids(df["key"])
    order = np.argsort(ids, kind="stable")
    df, ids = df.iloc[order].reset_index(drop=True), ids[order]
    rv = np.load(real_idx / "vectors.npy")
    rtab = pd.read_parquet(real_idx / "ids.parquet", columns=["key"])
    rh = pd.read_parquet(real_idx / "hashes.parquet")
    where = pd.Series(np.arange(len(rtab)), index=rtab["key"].astype(str))
    is_real = df["key"].astype(str).isin(where.index).to_numpy()
    src_rows = where.reindex(df["key"].astype(str)[is_real]).to_numpy()
    ph = rng.integers(0, 2**63, len(df), dtype=np.int64).astype(np.uint64)
    dh = rng.integers(0, 2**63, len(df), dtype=np.int64).astype(np.uint64)
    ph[is_real], dh[is_real] = rh["phash"].to_numpy(np.uint64)[src_rows], rh["dhash"].to_numpy(np.uint64)[src_rows]
    idx_dir = root / "idx"
    with atomic_dir(idx_dir) as tmp:
        raw = np.lib.format.open_memmap(tmp / "vectors.all.npy", mode="w+", dtype=np.float32, shape=(len(df), emb.dim))
        sv = rng.standard_normal((len(df), emb.dim)).astype(np.float32)
        sv /= np.linalg.norm(sv, axis=1, keepdims=True)
        sv[is_real] = rv[src_rows]
        raw[:] = sv
        del sv
        t = time.perf_counter()
        finish_index_dir(tmp, df, ids, raw, np.ones(len(df), bool), ph, dh, [], emb, want, idx_dir / "denylist.parquet",
                         str(ds / MANIFEST_NAME), device="cpu")
        t_tail = time.perf_counter() - t
    assert build_index(ds, idx_dir, model=model) == idx_dir  # consistent: a plain build is a no-op
    remaining = total - items
    return ds, idx_dir, [
        (f"baseline: build tail over the same {total:,} stored vectors (faiss train/add + tables)", t_tail),
        (f"baseline: re-embedding rebuild of {remaining:,} rows, extrapolated from the measured {rate:.0f} img/s "
         f"(build_index of the {items:,} real 64 px images, one model load included) + tail", remaining / rate + t_tail)]


def _real_world(root: Path, total: int, items: int, model: str) -> tuple[Path, Path, list[tuple[str, float]]]:
    """`total` real 64 px images, `items` of them captioned with the subject's name; index built by build_index."""
    import numpy as np

    from audit.dataset.synthetic import build_synthetic
    from audit.embed import load_embedder
    from audit.index import build_index
    from audit.records import read_manifest, write_manifest

    ds = root / "ds"
    build_synthetic(ds, n=total, size=64)
    _subject_captions(ds, np.sort(np.random.default_rng(0).choice(total, items, replace=False)), read_manifest,
                      write_manifest)
    load_embedder(model)  # imports warm; the build loads the model once
    t = time.perf_counter()
    idx_dir = build_index(ds, root / "idx", model=model)
    return ds, idx_dir, [(f"baseline: `build_index` of all {total:,} real images (re-embeds every row, as each "
                          "erasure's rebuild did before)", time.perf_counter() - t)]


def erase_at_scale(total: int, items: int, model: str, real: bool = False) -> None:
    """Erase `items` items of one subject from a `total`-row dataset + index through the real request flow."""
    import json
    import shutil

    import torch

    torch.set_num_threads(1)
    from audit.index import open_index
    from audit.removal import confirm_hits, connect, create_request, erase, locate, transition, verify_log

    if not 0 < items < total:
        raise SystemExit("--erase-items must be between 1 and --erase-total - 1")
    root = Path(tempfile.mkdtemp(prefix="removal_erase_bench."))
    try:
        ds, idx_dir, baselines = (_real_world if real else _padded_world)(root, total, items, model)
        conn = connect(root / "r.db")
        r = create_request(conn, "Jane Doe", "jane@example.org")
        transition(conn, r.id, "verified")
        t = time.perf_counter()
        cands = locate(conn, r.id, idx_dir, name="Jane Doe")
        t_locate = time.perf_counter() - t
        keys = sorted({c.key for c in cands})
        assert len(keys) == items, len(keys)
        confirm_hits(conn, r.id, keys)
        marks: dict[str, float] = {}
        t0 = time.perf_counter()
        res = erase(conn, r.id, idx_dir, _before_step=lambda st: marks.setdefault(st, time.perf_counter()))
        total_s = time.perf_counter() - t0
        plan = json.loads(conn.execute("SELECT arg FROM erase_plan WHERE request_id=? AND name='rebuild'", (r.id,)).fetchone()[0])
        after = open_index(idx_dir)
        assert res.state == "index_rebuilt" and after.count == total - items and verify_log(conn).ok
        assert not set(keys) & set(after.table["key"].astype(str))
        hidden = marks["manifest"] - t0
        rebuild = marks["state-index_rebuilt"] - marks["rebuild"]
        base = baselines[0][1]
        print(f"| rows in dataset and index | {total:,} ({'all real images' if real else f'{items:,} real images + padding'}, "
              f"{after.meta.get('dim')}-d, factory {after.meta.get('factory')}) | |")
        for label, sec in baselines:
            print(f"| {label} | {sec:.2f} s | {sec / base:.2f}× |")
        print(f"| locate by name ({items:,} hits over {total:,} captions) | {t_locate:.2f} s | {t_locate / base:.3f}× |")
        print(f"| {items:,} items hidden from queries (journal + tombstones + denylist) | {hidden:.2f} s | {hidden / base:.3f}× |")
        print(f"| rebuild step ({plan['rebuild']['mode']}: {plan['rebuild']['reused_vectors']:,} stored vectors) | "
              f"{rebuild:.2f} s | {rebuild / base:.3f}× |")
        slowest = max(sec for _, sec in baselines)
        print(f"| full journaled erasure of {items:,} items incl. rebuild | {total_s:.2f} s | {total_s / base:.3f}× "
              f"(re-embedding baseline / erasure = {slowest / total_s:.0f}×) |")
    finally:
        shutil.rmtree(root, ignore_errors=True)

if __name__ == "__main__":
    main()

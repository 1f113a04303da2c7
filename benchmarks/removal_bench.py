"""Removal benchmark: how fast an erased subject disappears from search, and what the whole erasure costs.

Baseline (same run): a plain `build_index(..., overwrite=True)` of the same dataset — the rebuild every erasure
needs anyway. Reported: time until the subject is hidden from queries (tombstone + denylist), the full journaled
erasure (manifest rewrite, file deletion, rebuild, state changes, log rows) as a ratio of the baseline, and audit-log
verification speed over many rows vs a plain SELECT of the same rows.

    nice -n 10 .venv/bin/python benchmarks/removal_bench.py --n 1000

Locate at scale (`--locate-total 1000000`, `--skip-erase` to run only this part): the subject's real photo and a few
synthetic images indexed for real, padded to N items with synthetic unit vectors and random 64-bit pHashes in the
index layout (memorisation_bench.build_big_index, faiss factory chosen by audit.index.vectors for that size).
Timed over `--runs` calls: `find_hits` (open index + pHash near-duplicates + CLIP search, what `audit removal
locate` runs) and the same two lookups on an already open index; baseline in the same run: numpy brute force
(query embedding + cosine over all vectors + top-k, Hamming distance over all pHashes) on in-memory arrays.
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
    ap.add_argument("--skip-erase", action="store_true", help="only the --locate-total part")
    args = ap.parse_args()
    if args.locate_total:
        locate_at_scale(args.locate_total, args.model, args.runs)
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


def locate_at_scale(total: int, model: str, runs: int) -> None:
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
    from audit.index.hashes import image_hashes
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
        query = root / "subject_sent.jpg"  # what the subject sends: a re-encoded copy of the indexed photo
        Image.open(photo).save(query, quality=85)

        cold, warm, brute = [], [], []
        found = None
        for _ in range(runs):
            t = time.perf_counter()
            hits = find_hits(idx.dir, photo=query)
            cold.append(time.perf_counter() - t)
            found = {h.key for h in hits}
        assert "astronaut" in found, found
        vecs = np.load(idx.dir / "vectors.npy")
        codes = pd.read_parquet(idx.dir / "hashes.parquet")["phash"].to_numpy(np.uint64)
        keys = pd.read_parquet(idx.dir / "ids.parquet")["key"].to_numpy()
        emb = idx.embedder
        for _ in range(runs):
            t = time.perf_counter()
            idx.near_duplicates(query)
            idx.search_image(query, k=10)
            warm.append(time.perf_counter() - t)
        for _ in range(runs):
            t = time.perf_counter()
            img = Image.open(query).convert("RGB")
            q = emb.embed_images([img], progress=False)[0]
            s = vecs @ q
            top = np.argpartition(-s, 10)[:10]
            top = top[np.argsort(-s[top])]
            ph = np.uint64(image_hashes(img)["phash"])
            dist = np.bitwise_count(np.bitwise_xor(codes, ph))
            near = np.flatnonzero(dist <= config.PHASH_NEAR_DUPLICATE)
            brute.append(time.perf_counter() - t)
        assert "astronaut" in set(keys[top]) | set(keys[near])
        (cm, cp), (wm, wp), (bm, bp) = _stats(cold), _stats(warm), _stats(brute)
        print(f"| items in index | {len(vecs):,} ({vecs.shape[1]}-d, factory {idx.meta.get('factory')}) | |")
        print(f"| synthetic index build (once) | {t_build:.1f} s | |")
        print(f"| baseline: numpy brute force (embed + cosine + Hamming, arrays in RAM) | {bm * 1000:.0f} ms median, "
              f"{bp * 1000:.0f} ms p99 | 1.00× |")
        print(f"| find_hits (open index + pHash + CLIP), {runs} runs | {cm * 1000:.0f} ms median, {cp * 1000:.0f} ms p99 "
              f"| {cm / bm:.2f}× |")
        print(f"| open index: near_duplicates + search_image, {runs} runs | {wm * 1000:.0f} ms median, "
              f"{wp * 1000:.0f} ms p99 | {wm / bm:.2f}× |")
        print(f"| subject's photo found | {'astronaut' in found} ({len(found)} candidate key(s)) | |")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()

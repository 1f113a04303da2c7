"""Removal benchmark: how fast an erased subject disappears from search, and what the whole erasure costs.

Baseline (same run): a plain `build_index(..., overwrite=True)` of the same dataset — the rebuild every erasure
needs anyway. Reported: time until the subject is hidden from queries (tombstone + denylist), the full journaled
erasure (manifest rewrite, file deletion, rebuild, state changes, log rows) as a ratio of the baseline, and audit-log
verification speed over many rows vs a plain SELECT of the same rows.

    nice -n 10 .venv/bin/python benchmarks/removal_bench.py --n 1000
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
    args = ap.parse_args()

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


if __name__ == "__main__":
    main()

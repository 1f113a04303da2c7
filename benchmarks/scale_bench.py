"""Scale-out: opt-out matching over synthetic manifest shards, local Spark vs the single-machine path, in one run.

    nice -n 10 .venv/bin/python benchmarks/scale_bench.py [--rows 2000000] [--entries 100000] [--shards 16] [--master local[2]]

Same synthetic manifest and registry as benchmarks/optout_bench.py. The single-machine path is what
`audit optout check` runs (read the manifest, `check_manifest`); the Spark path is `audit scale optout-check`
(shards read by Spark, registry broadcast, `check_manifest` per Arrow batch, parquet part files written).
Both must find the same (key, rule, entry_id) set. From the measured Spark wall time × cores a per-row cost
is derived and scaled to LAION-5B (5.85 B rows): core-hours, and nodes needed for a target wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from optout_bench import synth  # noqa: E402  (shared synthetic data, not copied)

LAION_5B = 5_850_000_000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--entries", type=int, default=100_000)
    ap.add_argument("--shards", type=int, default=16)
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--node-cores", type=int, default=32, help="cores per cluster node for the LAION-5B estimate")
    ap.add_argument("--target-hours", type=float, default=4.0)
    args = ap.parse_args()

    from audit.optout.match import check_manifest
    from audit.scale.optout import check
    from audit.scale.session import spark_session

    work = Path(tempfile.mkdtemp(prefix="scale_bench_"))
    try:
        t = time.perf_counter()
        manifest, reg = synth(args.rows, args.entries)
        shards = work / "manifest"
        shards.mkdir()
        for i, part in enumerate(np.array_split(np.arange(len(manifest)), args.shards)):
            manifest.iloc[part].to_parquet(shards / f"part-{i:05d}.parquet", index=False)
        reg.to_parquet(work / "registry.parquet", index=False)
        del manifest
        print(f"setup {time.perf_counter() - t:.1f}s: {args.rows:,} rows in {args.shards} shards, {len(reg):,} entries", flush=True)

        t = time.perf_counter()
        m = pd.read_parquet(shards)
        res = check_manifest(m, reg)
        single_s = time.perf_counter() - t
        want = set(zip(res.matches["key"], res.matches["rule"], res.matches["entry_id"].astype(int)))
        del m, res
        print(f"single machine: {single_s:.1f}s, {len(want):,} matches", flush=True)

        t = time.perf_counter()
        spark = spark_session(args.master, "genaudit-scale-bench", shuffle_partitions=4)
        start_s = time.perf_counter() - t
        cores = spark.sparkContext.defaultParallelism
        t = time.perf_counter()
        counts = check(spark, shards, work / "registry.parquet", work / "matches")
        spark_s = time.perf_counter() - t
        got = pd.read_parquet(work / "matches")
        same = set(zip(got["key"], got["rule"], got["entry_id"].astype(int))) == want
        spark.stop()
        print(f"spark {args.master}: start {start_s:.1f}s, job {spark_s:.1f}s, {counts['matches']:,} matches, identical={same}", flush=True)

        per_row_core_s = spark_s * cores / args.rows
        core_h = per_row_core_s * LAION_5B / 3600
        nodes = int(np.ceil(core_h / (args.target_hours * args.node_cores)))
        out = {
            "rows": args.rows, "entries": int(len(reg)), "shards": args.shards, "master": args.master, "cores": cores,
            "single_s": round(single_s, 1), "spark_start_s": round(start_s, 1), "spark_job_s": round(spark_s, 1),
            "ratio_single_over_spark": round(single_s / spark_s, 2), "identical": same, "matches": len(want),
            "per_row_core_us": round(per_row_core_s * 1e6, 2), "laion5b_core_hours": round(core_h, 1),
            f"laion5b_nodes_{args.node_cores}c_for_{args.target_hours:g}h": nodes,
            "load_avg": round(os.getloadavg()[0], 1),
        }
        print(json.dumps(out, indent=1))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

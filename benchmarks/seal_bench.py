"""Cost of sealing every write of the removal database (keyed chain + signed head) and of `verify`.

Each sealed transaction HMACs every decision table, so its cost grows with the database. Measured: one request
transition (UPDATE + 2 INSERTs + audit-log row) with sealing vs the same transaction unsealed (baseline, same run),
for databases holding `--rows` audit-log rows, and a full `verify` of the result.

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/seal_bench.py --rows 1000 20000
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from audit.removal import append_log, connect, create_request  # noqa: E402
from audit.removal.seal import verify  # noqa: E402
from audit.removal.store import transaction  # noqa: E402


def _write(conn, rid: int, seal: bool) -> float:
    t0 = time.perf_counter()
    with transaction(conn, sealed=seal):
        conn.execute("UPDATE requests SET version=version+1, updated_unix=? WHERE id=?", (int(time.time()), rid))
        conn.execute("INSERT INTO transitions VALUES (?, 'verified', 'verified', 'bench', '', ?)", (rid, int(time.time())))
        append_log(conn, "bench", rid, ["k"])
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[1000, 20000])
    ap.add_argument("--writes", type=int, default=30)
    a = ap.parse_args()
    print("| audit-log rows | sealed write (median) | unsealed write (baseline) | ratio | verify (whole DB) |")
    print("|---:|---:|---:|---:|---:|")
    for n in a.rows:
        with tempfile.TemporaryDirectory() as d:
            conn = connect(Path(d) / "requests.db")
            rid = create_request(conn, "Bench Person", "b@example.org").id
            with transaction(conn):
                for i in range(n):
                    append_log(conn, "bench", rid, [f"k{i}"])
            sealed = [_write(conn, rid, True) for _ in range(a.writes)]
            plain = [_write(conn, rid, False) for _ in range(a.writes)]
            t0 = time.perf_counter()
            ok = verify(conn)
            tv = time.perf_counter() - t0
            assert not ok.ok  # the unsealed baseline writes are (rightly) reported as changes outside genaudit
            s, p = statistics.median(sealed), statistics.median(plain)
            print(f"| {n:,} | {s * 1e3:.1f} ms | {p * 1e3:.1f} ms | {s / p:.1f}x | {tv * 1e3:.0f} ms |")


if __name__ == "__main__":
    main()

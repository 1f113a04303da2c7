"""`audit optout check` on Spark: the registry (exported to parquet) is broadcast and joined per partition.

The registry is small (thousands to millions of entries) and the manifest huge, so the join is map-side:
each partition of the manifest runs `audit.optout.match.check_manifest` — the exact single-machine rules
(URL keys, prefixes, domain suffixes, sha256, pHash Hamming range search, artist n-gram joins) — against
the broadcast registry. No shuffle of the manifest; output rows and columns equal `audit optout check`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pandas as pd

from audit import config
from audit.atomic import write_json, write_parquet
from audit.errors import InputError
from audit.meta import make_meta
from audit.scale.session import read_parquet

#: Manifest columns the matcher reads; others are dropped before the join to keep Arrow batches small.
NEEDED = ("key", "url", "sha256", "phash", "author", "caption")
MATCH_SCHEMA = ("key string, url string, rule string, entry_id long, entry string, scope string, source string, "
                "field string, matched string, start long, end long, distance long, reason string")
PROBLEM_SCHEMA = "key string, url string, problem string"


def export_registry(registry: str | Path, out: str | Path) -> Path:
    """Active registry entries as one parquet file (what executors read: no SQLite on the cluster)."""
    from audit.optout.registry import open_registry

    registry, out = Path(registry), Path(out)
    if not registry.is_file():
        raise InputError(f"registry {registry} does not exist", "create it with `audit optout add` or `audit optout import`")
    with open_registry(registry) as reg:
        df = reg.frame(active_only=True)
    write_parquet(df, out)
    return out


def _registry_frame(registry: str | Path) -> pd.DataFrame:
    p = Path(registry)
    if p.suffix == ".parquet":
        return pd.read_parquet(p)
    from audit.optout.registry import open_registry

    with open_registry(p) as reg:
        return reg.frame(active_only=True)


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for c in ("entry_id", "start", "end", "distance"):
        out[c] = pd.to_numeric(out[c], errors="coerce").astype("Int64")
    for c in out.columns:
        if c not in ("entry_id", "start", "end", "distance"):
            out[c] = out[c].astype("object").where(out[c].notna(), None).map(lambda v: v if v is None else str(v))
    return out


def check_partitions(manifest_df, registry: pd.DataFrame, *, max_distance: int = config.PHASH_NEAR_DUPLICATE):
    """(matches, problems) Spark DataFrames for a Spark manifest DataFrame and a registry DataFrame."""
    from audit.optout.match import MATCH_COLUMNS

    cols = [c for c in NEEDED if c in manifest_df.columns]
    if "key" not in cols:
        raise InputError("manifest has no 'key' column", "shards need img2dataset's key column")
    sc = manifest_df.sparkSession.sparkContext
    reg_b = sc.broadcast(registry)

    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        from audit.optout.match import check_manifest

        reg = reg_b.value
        for b in batches:
            if "url" not in b:
                b = b.assign(url=None)
            res = check_manifest(b, reg, max_distance=max_distance)
            if len(res.matches):
                yield _typed(res.matches[MATCH_COLUMNS])

    def problems(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        from audit.optout.match import url_parts

        for b in batches:
            if "url" not in b:
                continue
            u = url_parts(b)
            bad = u[u["url_error"].notna()]
            if len(bad):
                yield pd.DataFrame({"key": bad["key"].astype(str), "url": bad["url"].astype(str),
                                    "problem": bad["url_error"].astype(str)})

    small = manifest_df.select(*cols)
    return small.mapInPandas(run, MATCH_SCHEMA), small.mapInPandas(problems, PROBLEM_SCHEMA)


def sort_matches(df: pd.DataFrame) -> pd.DataFrame:
    """The single-machine order (key, rule, entry_id) so files compare row for row."""
    return df.sort_values(["key", "rule", "entry_id"], kind="stable").reset_index(drop=True)


def check(spark, manifest: str | Path, registry: str | Path, out: str | Path, *,
          max_distance: int = config.PHASH_NEAR_DUPLICATE, single_file: bool = False) -> dict[str, int]:
    """Run the check; write `out` (a parquet folder of part files, or one sorted file with single_file) + problems."""
    reg = _registry_frame(registry)
    mdf = read_parquet(spark, manifest)
    matches, problems = check_partitions(mdf, reg, max_distance=max_distance)
    out = Path(out)
    if single_file:
        m = sort_matches(matches.toPandas())
        p = problems.toPandas()
        write_parquet(m, out)
        write_parquet(p, out.with_name(out.stem + ".problems.parquet"))
        n_matches, covered, n_problems = len(m), int(m["key"].nunique()), len(p)
    else:
        matches.write.mode("overwrite").parquet(str(out))  # Spark writes to _temporary then commits
        problems.write.mode("overwrite").parquet(str(out) + ".problems")
        written = spark.read.parquet(str(out))  # count what was written, not a second matching pass
        n_matches, covered = written.count(), written.select("key").distinct().count()
        n_problems = spark.read.parquet(str(out) + ".problems").count()
    counts = {"matches": int(n_matches), "rows_covered": int(covered), "malformed_urls": int(n_problems)}
    meta = make_meta("optout-check", engine="spark", master=spark.sparkContext.master, manifest=str(manifest),
                     registry=str(registry), max_distance=max_distance, **counts)
    write_json(Path(str(out).rstrip("/") + ".meta.json") if not single_file else out.with_name(out.stem + ".meta.json"), meta)
    return counts

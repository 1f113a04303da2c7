"""Find a removal request's items across every shard: by sha256, perceptual hash, URL or name.

The request's identifiers become a one-off registry frame, so the matching rules (URL canonicalisation,
pHash Hamming radius, word-boundary name matching) are exactly `audit optout check`'s; the hits are
then joined back to the manifest to say which shard file holds each item.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from audit import config
from audit.errors import InputError
from audit.scale.session import read_parquet


def request_frame(*, sha256: Sequence[str] = (), phash: Sequence[str] = (), url: Sequence[str] = (),
                  name: Sequence[str] = ()) -> pd.DataFrame:
    """Registry-shaped frame for the request's identifiers (validated like registry entries)."""
    from audit.optout.registry import Registry

    recs = []
    for kind, values in (("sha256", sha256), ("phash", phash), ("url", url), ("artist", name)):
        for v in values:
            recs.append(Registry.make_record(kind, v, source="removal-request"))
    if not recs:
        raise InputError("nothing to locate", "give at least one --sha256, --phash, --url or --name")
    df = pd.DataFrame(recs).drop(columns=["embedding"])
    df.insert(0, "id", range(1, len(df) + 1))
    df["active"] = 1
    return df


def locate(spark, manifest: str | Path, request: pd.DataFrame, *, max_distance: int = config.PHASH_NEAR_DUPLICATE) -> pd.DataFrame:
    """Matches with the shard file each item is in, sorted like `audit optout check` output."""
    from pyspark.sql import functions as F

    from audit.scale.optout import check_partitions, sort_matches

    mdf = read_parquet(spark, manifest).withColumn("shard", F.input_file_name())
    matches, _ = check_partitions(mdf, request, max_distance=max_distance)
    where = mdf.select(F.col("key").cast("string").alias("key"), "shard")
    cols = ["path"] if "path" in mdf.columns else []
    if cols:
        where = where.join(mdf.select(F.col("key").cast("string").alias("key"), *cols), "key")
    found = matches.join(where, "key").toPandas()  # hits are few: a plain join back to the shards
    return sort_matches(found)

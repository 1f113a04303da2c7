"""Spark jobs for the same audits over sharded parquet: hashing, embedding, opt-out matching, index build.

Every job calls the single-machine code per partition (mapInPandas), so a cluster gives the same
answers as `audit dataset ingest`, `audit index build` and `audit optout check` on the same rows.
pyspark is imported only inside functions: importing this package is cheap.
"""

from audit.scale.session import java_available, spark_session

__all__ = ["java_available", "spark_session"]

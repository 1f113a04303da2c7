"""One place that starts Spark: master URL, quiet local defaults, and a clear error when Java is missing."""

from __future__ import annotations

import os
import shutil
import sys
import warnings
from pathlib import Path

from audit import config
from audit.errors import AuditError, InputError


class SparkError(AuditError):
    """Spark could not start or a job failed (missing Java, bad master URL, pyspark not installed)."""


def java_available() -> bool:
    """True if a `java` binary is reachable (JAVA_HOME or PATH): pyspark needs one to start its JVM."""
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").is_file():
        return True
    return shutil.which("java") is not None


def spark_session(master: str = "local[2]", app_name: str = "genaudit", shuffle_partitions: int = 8,
                  conf: dict[str, str] | None = None):
    """A SparkSession on `master` (local[N], spark://host:7077, yarn, k8s://...) with Arrow on and UI off by default."""
    if not java_available():
        raise SparkError(
            "Java not found: Spark needs a JVM", "install Java 17 (Debian: apt-get install openjdk-17-jre-headless) or set JAVA_HOME"
        )
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise SparkError("pyspark is not installed", 'pip install -e ".[scale]"') from None
    # executors on the local machine run the same interpreter (and so see the same audit package)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    if master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # no "hostname resolves to loopback" warning

    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
    b = (
        SparkSession.builder.master(master)
        .appName(app_name)
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", config.spark_batch_rows())
        .config("spark.driver.memory", config.spark_driver_memory())
    )
    for k, v in (conf or {}).items():
        b = b.config(k, v)
    try:
        spark = b.getOrCreate()
    except Exception as exc:  # py4j/JVM start-up failures
        raise SparkError(
            f"could not start Spark on master {master!r} ({str(exc).splitlines()[0][:160]})",
            "check the master URL and that the cluster runs the same pyspark version",
        ) from None
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def read_parquet(spark, path: str | Path):
    """Spark DataFrame over one parquet file or a folder of shards (any Spark-readable URI: s3a://, hdfs://...)."""
    p = str(path)
    if "://" not in p and not Path(p).exists():
        raise InputError(f"{p} does not exist", "pass a parquet file or a folder of parquet shards")
    return spark.read.parquet(p)

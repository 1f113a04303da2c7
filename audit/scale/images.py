"""Per-partition image work on Spark: hash img2dataset shards like `audit dataset ingest`, embed like `audit index build`.

Each executor runs the single-machine functions (load_image, fit_within, encode_image, audit.perceptual's hashes,
the project's CLIP embedder) on its rows; the model is loaded once per partition iterator, not per row.
Like ingest, hashing refuses images under removal tombstones (`Tombstones.reason` on the broadcast tombstones,
map-side) and marks exact duplicates of the source bytes (a window per sha256 keeps the row ingest would keep).
"""

from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path
from typing import Iterator
from urllib.parse import unquote, urlparse

import numpy as np
import pandas as pd

from audit import config
from audit.atomic import write_json
from audit.embed import load_embedder
from audit.errors import ImageError, InputError
from audit.images import fit_within, load_image
from audit.index.vectors import key_ids
from audit.meta import make_meta, sha256_bytes, sha256_file
from audit.perceptual import phash_hex
from audit.removal.tombstones import from_env

HASH_SCHEMA = ("key string, url string, caption string, original_path string, source_sha256 string, sha256 string, "
               "phash string, width long, height long, error string, skipped string")
EMBED_SCHEMA = ("id long, key string, vector array<float>, phash long, dhash long, kept boolean, reason string, "
                "weights_sha256 string")
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff")


def _find_image(shard: Path, key: str) -> Path | None:
    """img2dataset writes `NNNNN.parquet` beside a folder `NNNNN/` of `<key>.<ext>`; flat layouts keep them together."""
    for folder in (shard.parent / shard.stem, shard.parent):
        for ext in IMAGE_EXTS:
            p = folder / f"{key}{ext}"
            if p.is_file():
                return p
    return None


def hash_rows(batch: pd.DataFrame, max_side: int = 512, image_format: str = "jpeg", tombstones=None) -> pd.DataFrame:
    """sha256/pHash/size of each row's image exactly as DatasetWriter.add stores it (downscaled, re-encoded)."""
    out = []
    for rec in batch.to_dict("records"):
        shard = Path(str(rec["shard"]).removeprefix("file://"))
        key = rec.get("key")
        row = {"key": key, "url": rec.get("url"), "caption": rec.get("caption"), "original_path": None,
               "source_sha256": None, "sha256": None, "phash": None, "width": None, "height": None, "error": None,
               "skipped": None}
        path = _find_image(shard, str(key)) if key else None
        if path is None and rec.get("url"):
            name = Path(unquote(urlparse(str(rec["url"])).path)).name
            path = (shard.parent / shard.stem / name) if name and (shard.parent / shard.stem / name).is_file() else None
        if path is None:
            status = rec.get("status")
            row["error"] = "not downloaded" + (f" ({status})" if status and status != "success" else "")
            out.append(row)
            continue
        row["original_path"] = str(path)
        row.update(hash_image(path, max_side, image_format, tombstones))
        out.append(row)
    return _hash_frame(out)


def hash_image(source: Path | bytes, max_side: int, image_format: str, tombstones=None) -> dict:
    """sha256 of the source bytes, and sha256/pHash/size of the copy `DatasetWriter.add` would store.

    With `tombstones` (audit.removal.tombstones.Tombstones) an erased image gets only `skipped`, in ingest's
    words and order (sha256 of the source bytes before decoding, then the pHash of the decoded image); its
    url and caption are blanked, as nothing of an erased item is kept beyond its tombstone.
    """
    from audit.dataset.store import encode_image

    source_sha = sha256_bytes(source) if isinstance(source, bytes) else sha256_file(source)
    if tombstones is not None and (why := tombstones.reason(source_sha)):
        return _erased(why)
    try:
        img = load_image(source).image
    except ImageError as exc:
        return {"error": exc.message.split(": ", 1)[-1]}
    if tombstones is not None and tombstones.phashes:
        if why := tombstones.reason(None, phash_hex(img)):
            return _erased(why)
    small = fit_within(img.convert("RGB"), max_side)
    return {"source_sha256": source_sha,
            "sha256": hashlib.sha256(encode_image(small, image_format)).hexdigest(),
            "phash": phash_hex(small), "width": small.width, "height": small.height}


def _erased(why: str) -> dict:
    return {"skipped": f"erased on request ({why})", "url": None, "caption": None}  # ingest's skip reason


def _hash_frame(out: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(out, columns=[c.split()[0] for c in HASH_SCHEMA.split(", ")])
    for c in df.columns:  # plain object columns: pandas 3's arrow-backed str dtype trips pyspark's Arrow hand-off
        if c in ("width", "height"):
            df[c] = pd.to_numeric(df[c]).astype("Int64")
        else:
            df[c] = df[c].astype(object).where(df[c].notna(), None)
    return df


def hash_tar(tar_path: str, max_side: int = 512, image_format: str = "jpeg", tombstones=None) -> pd.DataFrame:
    """Rows of one webdataset tar (`<key>.jpg` + `<key>.json`/`<key>.txt` members), hashed like `hash_rows`."""
    samples: dict[str, dict] = {}
    with tarfile.open(tar_path) as tf:
        for m in tf:
            if not m.isfile():
                continue
            base = m.name.rsplit("/", 1)[-1]
            key, _, ext = base.partition(".")
            ext = "." + ext.lower()
            smp = samples.setdefault(key, {"key": key})
            member = tf.extractfile(m)
            if member is None:
                continue
            data = member.read()
            if ext in IMAGE_EXTS:
                smp["image"], smp["original_path"] = data, f"{tar_path}::{m.name}"
            elif ext == ".json":
                try:
                    meta = json.loads(data.decode("utf-8"))
                except (UnicodeDecodeError, ValueError):
                    meta = {}
                if isinstance(meta, dict):
                    smp.setdefault("url", meta.get("url"))
                    smp.setdefault("caption", meta.get("caption"))
            elif ext == ".txt":
                smp["caption"] = " ".join(data.decode("utf-8", "replace").split()) or smp.get("caption")
    out = []
    for key, smp in samples.items():
        row = {"key": key, "url": smp.get("url"), "caption": smp.get("caption"), "original_path": smp.get("original_path")}
        row.update(hash_image(smp["image"], max_side, image_format, tombstones) if "image" in smp
                   else {"error": "no image in sample"})
        out.append(row)
    return _hash_frame(out)


def _hash_tars(spark, tars: list[str], max_side: int, image_format: str, tomb_b):
    paths = spark.createDataFrame(pd.DataFrame({"tar": tars})).repartition(max(1, len(tars)))

    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        tomb = tomb_b.value if tomb_b is not None else None
        for b in batches:
            for t in b["tar"]:
                yield hash_tar(t, max_side, image_format, tomb)

    return paths.mapInPandas(run, HASH_SCHEMA)


def mark_duplicates(df):
    """Mark every hashed row whose source bytes an earlier row already has: `skipped` = "exact duplicate of <key>".

    Ingest walks the images in path order and keeps the first of each sha256 that is neither erased nor
    unreadable; here a window per source sha256, ordered by path components (Python's Path order) then key,
    picks the same row. Rows that are not candidates get a unique window key, so failures don't pile into
    one partition.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    cand = F.col("error").isNull() & F.col("skipped").isNull() & F.col("source_sha256").isNotNull()
    df = df.withColumn("_row", F.monotonically_increasing_id())
    group = F.when(cand, F.concat(F.lit("s:"), F.col("source_sha256"))).otherwise(F.concat(F.lit("r:"), F.col("_row").cast("string")))
    w = Window.partitionBy(group).orderBy(F.split(F.col("original_path"), "/"), F.col("key"))
    dup = cand & (F.row_number().over(w) > 1)
    return (df.withColumn("skipped", F.when(dup, F.concat(F.lit("exact duplicate of "), F.first("key").over(w)))
                          .otherwise(F.col("skipped"))).drop("_row"))


def hash_shards(spark, src: str | Path, *, max_side: int = 512, image_format: str = "jpeg",
                tombstones: str | Path | None = None, keep_duplicates: bool = False):
    """Spark DataFrame of hashed rows for every shard under `src`: img2dataset parquet + images, or webdataset tars.

    As `audit dataset ingest` does: rows under the tombstones of `tombstones` (a removal requests.db; default
    $GENAUDIT_REMOVAL_DB) and exact duplicates (unless `keep_duplicates`) carry the skip reason in `skipped`.
    The tombstones are read once on the driver and broadcast; executors never open the SQLite file.
    """
    erased = from_env(tombstones)
    tomb_b = spark.sparkContext.broadcast(erased) if erased is not None else None
    df = _hash_source(spark, str(src), max_side, image_format, tomb_b)
    return df if keep_duplicates else mark_duplicates(df)


def _hash_source(spark, src: str, max_side: int, image_format: str, tomb_b):
    from pyspark.sql import functions as F

    if "://" not in src and not Path(src).exists():
        raise InputError(f"{src} does not exist", "pass an img2dataset output folder (parquet shards + images)")
    tars = sorted(str(p) for p in Path(src).rglob("*.tar")) if "://" not in src else []
    if tars:
        return _hash_tars(spark, tars, max_side, image_format, tomb_b)
    df = spark.read.option("recursiveFileLookup", "true").option("pathGlobFilter", "*.parquet").parquet(src)
    cols = set(df.columns)
    url = "url" if "url" in cols else ("URL" if "URL" in cols else None)
    cap = next((c for c in ("caption", "TEXT", "text") if c in cols), None)
    if url is None or cap is None or "key" not in cols:
        raise InputError(f"{src}: shards need key, url (or URL) and caption (or TEXT) columns", "re-export the shards with img2dataset")
    status = F.col("status") if "status" in cols else F.lit(None).cast("string")
    sel = df.select(F.col("key").cast("string").alias("key"), F.col(url).cast("string").alias("url"),
                    F.col(cap).cast("string").alias("caption"), status.alias("status"), F.input_file_name().alias("shard"))

    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        tomb = tomb_b.value if tomb_b is not None else None
        for b in batches:
            yield hash_rows(b, max_side, image_format, tomb)

    return sel.mapInPandas(run, HASH_SCHEMA)


def _embed_rows(emb, b: pd.DataFrame) -> pd.DataFrame:
    """One chunk through `audit index build`'s own decode/hash/embed step; unreadable rows carry the reason."""
    from audit.index.build import embed_chunk

    part = embed_chunk(emb, [Path(p) for p in b["path"]])
    return pd.DataFrame({"id": b["id"].to_numpy(), "key": b["key"].to_numpy(), "vector": list(part["vectors"]),
                         "phash": part["phash"].view(np.int64), "dhash": part["dhash"].view(np.int64),
                         "kept": part["kept"], "reason": part["reason"].astype(str),
                         "weights_sha256": emb.weights_sha256})  # the driver checks every executor used the same weights


def embed_manifest(spark, dataset: str | Path, model: str | None, *, chunk: int = 256):
    """(Spark DataFrame of id/key/vector/phash/dhash per manifest row, manifest pandas frame, dataset dir)."""
    from audit.index.build import resolve_source
    from audit.records import read_manifest, resolve_paths

    dataset_dir, mpath = resolve_source(dataset, Path(dataset))
    df = read_manifest(mpath)
    if not len(df):
        raise InputError(f"{mpath} has no rows", "add images to the dataset first")
    rows = pd.DataFrame({"id": key_ids(df["key"]), "key": df["key"].astype(str),
                         "path": [str(p) for p in resolve_paths(df, dataset_dir)]})
    n_parts = max(1, min(len(rows) // 256 + 1, spark.sparkContext.defaultParallelism * 4))
    sdf = spark.createDataFrame(rows).repartition(n_parts)

    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        import torch

        torch.set_num_threads(1)
        emb = load_embedder(model)  # once per partition iterator
        for big in batches:  # Arrow batches can be 200k rows: decode at most `chunk` images at a time
            for s in range(0, len(big), chunk):
                yield _embed_rows(emb, big.iloc[s:s + chunk])

    return sdf.mapInPandas(run, EMBED_SCHEMA), df, dataset_dir


def write_hashes(spark, src: str | Path, out: str | Path, *, max_side: int = 512, image_format: str = "jpeg",
                 tombstones: str | Path | None = None, keep_duplicates: bool = False) -> dict[str, int]:
    """`audit scale hash`: write the hashed rows (parquet part files) and `<out>.meta.json`; return the counts."""
    from pyspark.sql import functions as F

    hash_shards(spark, src, max_side=max_side, image_format=image_format, tombstones=tombstones,
                keep_duplicates=keep_duplicates).write.mode("overwrite").parquet(str(out))
    res = spark.read.parquet(str(out))  # count what was written: one pass over the result, no re-hashing
    skipped = F.coalesce(F.col("skipped"), F.lit(""))
    row = res.agg(F.count(F.lit(1)).alias("rows"), F.sum(F.col("error").isNotNull().cast("long")).alias("errors"),
                  F.sum(skipped.startswith("exact duplicate").cast("long")).alias("duplicates"),
                  F.sum(skipped.startswith("erased on request").cast("long")).alias("erased")).first()
    c = {k: int(row[k] or 0) for k in ("rows", "errors", "duplicates", "erased")}
    c["hashed"] = c["rows"] - c["errors"] - c["erased"]
    db = tombstones or config.removal_db_from_env()
    write_json(Path(str(out).rstrip("/") + ".meta.json"),
               make_meta("scale-hash", engine="spark", master=spark.sparkContext.master, src=str(src), max_side=max_side,
                         image_format=image_format, keep_duplicates=keep_duplicates,
                         tombstones=str(db) if db else None, **c))
    return c

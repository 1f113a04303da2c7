"""`audit index build` on Spark: executors embed and hash, the driver trains the faiss index and writes the same layout.

Embeddings stream back in id order (Spark sorts by id), land in a memory-mapped vectors.npy, and
`audit.index.vectors.build_faiss` trains on a seeded sample and adds them chunk by chunk — so
`open_index`/`audit search` load the result exactly like a single-machine index.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from audit.atomic import atomic_dir
from audit.embed import load_embedder
from audit.errors import ModelError
from audit.index.layout import DENYLIST_NAME, VECTORS_WORK_NAME
from audit.index.vectors import key_ids
from audit.meta import read_meta


def build_index_spark(spark, source: str | Path, out: str | Path, model: str | None = None,
                      factory: str | None = None, overwrite: bool = False) -> dict:
    """Build an index dir from a dataset on Spark; returns its meta (idempotent like build_index)."""
    from audit.index.build import check_out, finish_index_dir
    from audit.records import manifest_hash
    from audit.scale.images import embed_manifest

    out = Path(out)
    emb = load_embedder(model)  # driver: weights sha256 for meta and the idempotency check
    sdf, df, dataset_dir = embed_manifest(spark, source, model)
    want = {"manifest_hash": manifest_hash(df), "weights_sha256": emb.weights_sha256,
            "factory_requested": factory, "dataset_dir": str(dataset_dir.resolve())}
    if check_out(out, want, overwrite):
        return read_meta(out, kind="index")
    ids = key_ids(df["key"])
    order = np.argsort(ids, kind="stable")
    df, ids = df.iloc[order].reset_index(drop=True), ids[order]
    n = len(df)
    old_denylist = out / DENYLIST_NAME
    with atomic_dir(out) as tmp:
        raw = np.lib.format.open_memmap(tmp / VECTORS_WORK_NAME, mode="w+", dtype=np.float32, shape=(n, emb.dim))
        kept = np.zeros(n, bool)
        ph, dh = np.zeros(n, np.uint64), np.zeros(n, np.uint64)
        skipped = []
        pos = {int(i): r for r, i in enumerate(ids)}
        for row in sdf.orderBy("id").toLocalIterator():
            r = pos[int(row["id"])]
            if row["weights_sha256"] != emb.weights_sha256:
                raise ModelError(f"an executor embedded with other weights ({row['weights_sha256'][:12]}… vs {emb.weights_sha256[:12]}…)",
                                 "ship the same checkpoint to every executor (see docs/SCALE.md, model shipping)")
            if row["kept"]:
                raw[r] = np.asarray(row["vector"], np.float32)
                kept[r] = True
                ph[r], dh[r] = np.int64(row["phash"]).view(np.uint64), np.int64(row["dhash"]).view(np.uint64)
            else:
                skipped.append({"path": str(df["path"].iloc[r]), "reason": row["reason"]})
        meta = finish_index_dir(tmp, df, ids, raw, kept, ph, dh, skipped, emb, want, old_denylist, str(source),
                                device="cpu", engine="spark", master=spark.sparkContext.master)
    return meta

"""Rebuild an index after an erasure from the vectors and hashes it already holds, without re-embedding.

An erasure only drops rows: every remaining row's CLIP vector and perceptual hashes are already in the index
(vectors.npy, hashes.parquet), computed from the same file (same key, path and sha256) by the same model
(same weights). Re-embedding 99k images to drop 1k would cost the full build time for nothing. So the
rebuild copies the stored rows of the filtered manifest and trains/fills a fresh faiss index through the
shared build tail (audit.index.build.finish_index_dir), giving the layout and meta.json `audit index build` writes
for that manifest (a later plain build sees it as up to date). Any row that cannot be reused (the manifest
gained or changed rows since the index was built, or the model changed) falls back to a full `build_index`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from audit.atomic import atomic_dir
from audit.embed import load_embedder
from audit.index import build_index, layout
from audit.index.vectors import key_ids
from audit.meta import recorded, weights_sha256

#: Rows copied per block from the old memory-mapped vectors (bounded memory at any index size).
COPY_BLOCK = 65_536


@dataclass(frozen=True)
class Rebuild:
    """How the index was rebuilt: `mode` is "reused" (stored vectors), "full" (re-embedded) or "up-to-date"."""

    mode: str
    rows: int
    reused: int
    why: str


def _old_rows(index_dir: Path) -> tuple[np.ndarray, Any]:
    t = layout.read_table(index_dir, layout.IDS_NAME, ["id", "key", "path", "sha256"], arrow=True)
    return t.column("id").to_numpy().astype(np.int64), t


def _reuse_plan(df, ids: np.ndarray, index_dir: Path, old_meta: dict) -> tuple[np.ndarray | None, np.ndarray, list, str]:
    """(old row of each new row or None when the plan fails, kept mask, carried-over skipped rows, why)."""
    old_ids, old = _old_rows(index_dir)
    pos = np.minimum(np.searchsorted(old_ids, ids), max(0, len(old_ids) - 1))
    present = (old_ids[pos] == ids) if len(old_ids) else np.zeros(len(ids), bool)
    cols = set(old.column_names)
    for c in ("key", "path", "sha256"):
        if c not in cols:
            return None, present, [], f"the old index has no '{c}' column"
        was = np.asarray(old.column(c).to_pandas().astype("string").fillna(""), dtype=object)[pos[present]]
        now = np.asarray(df[c].astype("string").fillna(""), dtype=object)[present]
        if not np.array_equal(was, now):
            return None, present, [], f"{int((was != now).sum())} row(s) changed '{c}' since the index was built"
    skipped_before = {str(s.get("path")): str(s.get("reason")) for s in old_meta.get("skipped") or []}
    skipped, rel = [], df["path"].astype(str).to_numpy()
    for i in np.flatnonzero(~present):
        if rel[i] not in skipped_before:
            return None, present, [], f"{int((~present).sum())} manifest row(s) are not in the index"
        skipped.append({"path": rel[i], "reason": skipped_before[rel[i]]})
    return pos, present, skipped, ""


def rebuild_without_reembedding(dataset: str | Path, index_dir: str | Path, model: str | None = None,
                                factory: str | None = None) -> Rebuild:
    """Rebuild `index_dir` for the (filtered) manifest of `dataset`, reusing stored vectors when every row allows."""
    from audit.index.build import finish_index_dir
    from audit.records import MANIFEST_NAME, manifest_hash, read_manifest

    dataset, index_dir = Path(dataset), Path(index_dir)
    df = read_manifest(dataset)
    old_meta = layout.read_index_meta(index_dir)
    device = str(old_meta.get("device") or "cpu")
    emb = load_embedder(model, device=device)
    want = {"manifest_hash": manifest_hash(df), "weights_sha256": emb.weights_sha256, "factory_requested": factory,
            "dataset_dir": str(dataset.resolve())}

    def full(why: str) -> Rebuild:
        build_index(dataset, index_dir, model=model, factory=factory, device=device, overwrite=True)
        return Rebuild("full", len(df), 0, why)

    complete = not layout.missing_files(index_dir, layout.BUILD_FILES)
    if complete and all(recorded(old_meta, k) == v for k, v in want.items()):
        return Rebuild("up-to-date", len(df), 0, "the index already matches the manifest")  # re-run after a crash
    if not complete:
        return full("the old index is incomplete")
    if weights_sha256(old_meta) != emb.weights_sha256:
        return full("the model changed since the index was built")
    if old_meta.get("dataset_dir") != want["dataset_dir"]:
        return full("the index was built from another dataset dir")
    if not len(df):
        return full("the manifest is empty")

    ids = key_ids(df["key"])
    order = np.argsort(ids, kind="stable")
    df, ids = df.iloc[order].reset_index(drop=True), ids[order]
    pos, kept, skipped, why = _reuse_plan(df, ids, index_dir, old_meta)
    if pos is None:
        return full(why)

    hashes = layout.read_table(index_dir, layout.HASHES_NAME, ["phash", "dhash"])
    ph, dh = np.zeros(len(df), np.uint64), np.zeros(len(df), np.uint64)
    ph[kept] = hashes["phash"].to_numpy(np.uint64)[pos[kept]]
    dh[kept] = hashes["dhash"].to_numpy(np.uint64)[pos[kept]]
    old_vectors = layout.open_vectors(index_dir)
    if old_vectors.shape[1] != emb.dim:
        return full(f"stored vectors are {old_vectors.shape[1]}-d, the model gives {emb.dim}")
    with atomic_dir(index_dir) as tmp:
        raw = np.lib.format.open_memmap(tmp / layout.VECTORS_WORK_NAME, mode="w+", dtype=np.float32, shape=(len(df), emb.dim))
        for start in range(0, len(df), COPY_BLOCK):
            stop = min(len(df), start + COPY_BLOCK)
            m = kept[start:stop]
            raw[start:stop][m] = old_vectors[pos[start:stop][m]]
        del old_vectors
        finish_index_dir(tmp, df, ids, raw, kept, ph, dh, skipped, emb, want, index_dir / layout.DENYLIST_NAME,
                         str(dataset / MANIFEST_NAME), device=device, rebuilt_from="stored-vectors",
                         reused_vectors=int(kept.sum()))
    return Rebuild("reused", len(df), int(kept.sum()), "every remaining row's vector and hashes were in the index")

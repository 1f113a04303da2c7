"""`audit index build`: manifest -> CLIP vectors + perceptual hashes -> faiss index dir, atomically and idempotently.

Layout written (its owner is audit.index.layout): vectors.faiss, vectors.npy (exact L2-normalised float32 rows for the
re-rank, memory-mapped at query time), ids.parquet, hashes.parquet, the caption index (caption words,
audit.index.captions; denylisted rows left out), meta.json, and the previous denylist.parquet carried over.
Rows of every file are in ascending id order (ids are key hashes).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from audit import perceptual
from audit.atomic import atomic_dir, atomic_path
from audit.embed import load_embedder
from audit.errors import ArtefactError, ImageError, InputError
from audit.images import load_rgb
from audit.index.captions import CAPTIONS_NAME, write_caption_index
from audit.index.denylist import read_denylist
from audit.index.layout import (
    BUILD_FILES,
    DENYLIST_NAME,
    FAISS_NAME,
    HASHES_NAME,
    IDS_NAME,
    VECTORS_NAME,
    VECTORS_WORK_NAME,
    read_index_meta,
)
from audit.index.vectors import build_faiss, key_ids, resolve_factory, save_faiss
from audit.meta import META_NAME, make_meta, recorded, sha256_strings, write_meta
from audit.progress import bar
from audit.records import MANIFEST_NAME, manifest_hash, read_manifest, resolve_paths

BATCH = 128
#: Rows per resumable embedding chunk.
CHUNK = 4096


def resolve_source(source: str | Path, out: Path) -> tuple[Path, Path]:
    """(dataset dir, manifest file) for a dataset dir, a manifest file, or a plain image folder (ingested first)."""
    src = Path(source)
    if not src.exists():
        raise InputError(f"{src} does not exist", "pass a dataset dir, a manifest.parquet or a folder of images")
    if src.is_file():
        if src.suffix != ".parquet":
            raise InputError(f"{src} is not a manifest (.parquet)", "pass a dataset dir, a manifest.parquet or a folder of images")
        return src.parent, src
    if (src / MANIFEST_NAME).is_file():
        return src, src / MANIFEST_NAME
    # a plain folder of images: ingest it into a sibling dataset dir (idempotent on its own)
    from audit.dataset.ingest import ingest

    dataset = out.parent / f"{out.name}_dataset"
    ingest(src, dataset)
    return dataset, dataset / MANIFEST_NAME


def _same_inputs(meta: dict[str, Any], want: dict[str, Any]) -> bool:
    return all(recorded(meta, k) == v for k, v in want.items())  # recorded: indices written before a key rename


def check_out(out: Path, want: dict[str, Any], overwrite: bool) -> bool:
    """True when `out` already holds an index built from the same inputs (the build is then a no-op)."""
    if not out.exists():
        return False
    if not out.is_dir():
        raise ArtefactError(f"{out} exists and is not a directory", "choose another --out")
    names = {p.name for p in out.iterdir()}
    if not names:
        return False
    meta = None
    if META_NAME in names:
        try:
            meta = json.loads((out / META_NAME).read_text(encoding="utf-8"))
        except (ValueError, OSError):
            meta = None
    is_index = (meta is not None and meta.get("kind") == "index") or FAISS_NAME in names
    if not is_index:
        raise ArtefactError(f"{out} is not empty and is not an index", "choose an empty or new --out directory")
    complete = meta is not None and all(n in names for n in BUILD_FILES)
    if complete and not overwrite and meta is not None and _same_inputs(meta, want):
        return True
    if not overwrite:
        why = "is incomplete" if not complete else "was built from other inputs (manifest, model or factory)"
        raise ArtefactError(f"index {out} {why}", "pass --overwrite to rebuild it")
    return False


def embed_chunk(emb, paths: list[Path], tick=lambda n: None) -> dict[str, np.ndarray]:
    """Decode, hash and embed one chunk of rows; unreadable images are marked not kept, with the reason."""
    n = len(paths)
    out = {"vectors": np.zeros((n, emb.dim), np.float32), "kept": np.zeros(n, bool),
           "phash": np.zeros(n, np.uint64), "dhash": np.zeros(n, np.uint64), "reason": np.full(n, "", dtype=object)}
    for start in range(0, n, BATCH):
        imgs, rows = [], []
        for i in range(start, min(n, start + BATCH)):
            try:
                img = load_rgb(paths[i])
            except ImageError as exc:
                out["reason"][i] = exc.message
                continue
            h = perceptual.encode(img)
            out["phash"][i], out["dhash"][i] = h.phash, h.dhash
            imgs.append(img)
            rows.append(i)
        if imgs:
            out["vectors"][rows] = emb.embed_images(imgs, batch_size=BATCH, progress=False)
            out["kept"][rows] = True
        tick(min(n, start + BATCH) - start)
    out["reason"] = out["reason"].astype(str)
    return out


def work_dir(out: Path, want: dict[str, Any]) -> Path:
    """Where finished embedding chunks wait, so an interrupted build resumes (deleted after success)."""
    tag = sha256_strings([want["manifest_hash"], want["weights_sha256"], want["dataset_dir"]])[:12]
    return out.parent / f".{out.name}.work-{tag}"


def _embed_rows(emb, paths: list[Path], rel_paths: list[str], out_vectors: np.ndarray, work: Path):
    """Embed every row chunk by chunk, reusing chunks a previous interrupted run finished."""
    n = len(paths)
    kept = np.zeros(n, dtype=bool)
    ph = np.zeros(n, dtype=np.uint64)
    dh = np.zeros(n, dtype=np.uint64)
    skipped: list[dict[str, str]] = []
    work.mkdir(parents=True, exist_ok=True)
    with bar(n, "index build: embedding", unit="img") as pb:
        for start in range(0, n, CHUNK):
            stop = min(n, start + CHUNK)
            path = work / f"chunk_{start:010d}_{stop:010d}.npz"
            part, fresh = None, False
            if path.is_file():
                try:
                    with np.load(path, allow_pickle=False) as z:
                        part = {k: z[k] for k in z.files}
                except (OSError, ValueError, EOFError):
                    part = None  # damaged chunk: redo it
            if part is None:
                fresh = True
                part = embed_chunk(emb, paths[start:stop], pb.update)
                with atomic_path(path, ".npz") as tmp, open(tmp, "wb") as f:
                    np.savez(f, **part)  # type: ignore[arg-type]
            out_vectors[start:stop] = part["vectors"]
            kept[start:stop], ph[start:stop], dh[start:stop] = part["kept"], part["phash"], part["dhash"]
            skipped += [{"path": rel_paths[start + i], "reason": str(part["reason"][i])}
                        for i in np.flatnonzero(~part["kept"])]
            if fresh is False:
                pb.update(stop - start)
    return kept, ph, dh, skipped


def finish_index_dir(tmp: Path, df: pd.DataFrame, ids: np.ndarray, raw: np.ndarray, kept: np.ndarray,
                     ph: np.ndarray, dh: np.ndarray, skipped: list[dict], emb, want: dict, old_denylist: Path,
                     source_name: str, **extra_meta: Any) -> dict[str, Any]:
    """The shared tail of every build (single machine or Spark): from embedded rows in `tmp/vectors.all.npy`
    to the final layout — readable rows' vectors, faiss index, ids/hashes parquet, carried-over denylist, meta."""

    count = int(kept.sum())
    if count == 0:
        raise InputError(f"{source_name}: none of the {len(df)} images could be read",
                         f"first problem: {skipped[0]['path']}: {skipped[0]['reason']}" if skipped else None)
    if count == len(df):
        if isinstance(raw, np.memmap):
            raw.flush()
        del raw
        (tmp / VECTORS_WORK_NAME).rename(tmp / VECTORS_NAME)
    else:
        vec = np.lib.format.open_memmap(tmp / VECTORS_NAME, mode="w+", dtype=np.float32, shape=(count, emb.dim))
        vec[:] = raw[kept]
        vec.flush()
        del vec, raw
        (tmp / VECTORS_WORK_NAME).unlink()
    vectors = np.load(tmp / VECTORS_NAME, mmap_mode="r")
    df, ids = df[kept].reset_index(drop=True), ids[kept]

    choice = resolve_factory(want.get("factory_requested"), count, emb.dim)
    index = build_faiss(choice, vectors, ids)
    save_faiss(index, tmp / FAISS_NAME)
    del index

    table = df.copy()
    table.insert(0, "id", ids)
    table.to_parquet(tmp / IDS_NAME, index=False)
    pd.DataFrame({"id": ids, "key": df["key"].astype("string"), "phash": ph[kept], "dhash": dh[kept]}).to_parquet(
        tmp / HASHES_NAME, index=False)
    if old_denylist.is_file():
        shutil.copy2(old_denylist, tmp / DENYLIST_NAME)
    write_captions(tmp, table)
    meta = make_meta(
        "index", **{**emb.describe(), **want}, count=count, manifest_rows=int(len(kept)),
        skipped=skipped, skipped_count=len(skipped), **choice.to_meta(), vectors_dtype="float32",
        hash_kinds=["phash", "dhash"], id_scheme="sha256(key)[:8] & 2^63-1", **extra_meta,
    )
    write_meta(tmp, meta)
    return meta


def write_captions(index_dir: Path, table: pd.DataFrame | None = None) -> Path:
    """Write the caption index of an index dir from its rows (ids.parquet unless given), denylisted keys left out."""
    if table is None:
        import pyarrow.parquet as pq

        have = pq.read_schema(index_dir / IDS_NAME).names
        table = pd.read_parquet(index_dir / IDS_NAME, columns=[c for c in ("id", "key", "caption", "author") if c in have])
    denied = set(read_denylist(index_dir)["key"].astype(str))
    rows = table[~table["key"].astype(str).isin(denied)] if denied else table
    none = [None] * len(rows)
    return write_caption_index(index_dir / CAPTIONS_NAME, rows["id"].to_numpy(np.int64),
                               rows["caption"] if "caption" in rows else none, rows["author"] if "author" in rows else none)


@dataclass(frozen=True)
class IndexBuild:
    """What `build_index_report` did: the index dir, whether it was already up to date, and its meta."""

    out: Path
    up_to_date: bool
    meta: dict[str, Any]
    captions_added: bool = False  # an up-to-date index from before caption search got its caption index


def build_index(source: str | Path, out: str | Path, model: str | None = None, factory: str | None = None,
                device: str = "cpu", overwrite: bool = False) -> Path:
    """Build (or confirm up to date) the search index of a training set; returns the index dir."""
    return build_index_report(source, out, model, factory, device, overwrite).out


def build_index_report(source: str | Path, out: str | Path, model: str | None = None, factory: str | None = None,
                       device: str = "cpu", overwrite: bool = False) -> IndexBuild:
    """`build_index`, also saying whether anything was rebuilt (for the CLI and the app)."""
    out = Path(out)
    dataset_dir, mpath = resolve_source(source, out)
    df = read_manifest(mpath)
    if not len(df):
        raise InputError(f"{mpath} has no rows", "add images to the dataset first")
    emb = load_embedder(model, device=device)
    want = {
        "manifest_hash": manifest_hash(df),
        "weights_sha256": emb.weights_sha256,
        "factory_requested": factory,
        "dataset_dir": str(dataset_dir.resolve()),
    }
    if check_out(out, want, overwrite):
        added = not (out / CAPTIONS_NAME).is_file()
        if added:
            write_captions(out)
        return IndexBuild(out, True, read_index_meta(out), added)

    ids = key_ids(df["key"])
    order = np.argsort(ids, kind="stable")
    df = df.iloc[order].reset_index(drop=True)
    ids = ids[order]
    paths = resolve_paths(df, dataset_dir)
    old_denylist = out / DENYLIST_NAME

    with atomic_dir(out) as tmp:
        raw = np.lib.format.open_memmap(tmp / VECTORS_WORK_NAME, mode="w+", dtype=np.float32, shape=(len(df), emb.dim))
        work = work_dir(out, want)
        kept, ph, dh, skipped = _embed_rows(emb, paths, df["path"].astype(str).tolist(), raw, work)
        meta = finish_index_dir(tmp, df, ids, raw, kept, ph, dh, skipped, emb, want, old_denylist, str(mpath),
                                device=device)
    shutil.rmtree(work, ignore_errors=True)
    return IndexBuild(out, False, meta)

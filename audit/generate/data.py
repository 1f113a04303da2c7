"""Training data: manifest(s) → square pixel tensors, with author exclusions and per-item duplication.

Exclusions and duplication are applied here, by the loader, and everything it did is returned in
`TrainingSet.record()` for meta.json, so a run states exactly which items it saw and how often.
The epoch order is a pure function of (seed, epoch): a resumed run sees the same batches.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
from PIL import Image

from audit.errors import InputError, ManifestError
from audit.images import load_rgb
from audit.progress import track
from audit.records import manifest_hash, read_manifest, resolve_paths


def parse_duplicates(specs: Sequence[str]) -> dict[str, int]:
    """`KEY=N` strings → {key: N}; N ≥ 1 (1 = once, the default)."""
    out: dict[str, int] = {}
    for spec in specs:
        key, sep, n = str(spec).rpartition("=")
        if not sep or not key:
            raise InputError(f"--duplicate {spec!r} is not KEY=N", "e.g. --duplicate ref_0001=100")
        try:
            factor = int(n)
        except ValueError:
            raise InputError(f"--duplicate {spec!r}: {n!r} is not a whole number", "e.g. --duplicate ref_0001=100") from None
        if factor < 1:
            raise InputError(f"--duplicate {spec!r}: factor must be at least 1", "use --exclude-author to drop items")
        out[key] = factor
    return out


def square_pixels(img, resolution: int) -> np.ndarray:
    """Centre-crop to a square, resize, scale to [-1, 1]; (3, R, R) float32."""
    side = min(img.size)
    left, top = (img.width - side) // 2, (img.height - side) // 2
    img = img.crop((left, top, left + side, top + side)).resize((resolution, resolution), Image.Resampling.BICUBIC)
    arr = np.asarray(img, dtype=np.float32) / 127.5 - 1.0
    return np.ascontiguousarray(arr.transpose(2, 0, 1))


def load_manifests(datasets: Sequence[str | Path]) -> pd.DataFrame:
    """Concatenate manifests, adding an absolute `abs_path` column; keys must be unique across them."""
    if not datasets:
        raise InputError("no --dataset given", "pass a dataset directory built with `audit dataset ...`")
    frames = []
    for ds in datasets:
        df = read_manifest(ds)
        base = Path(ds) if Path(ds).is_dir() else Path(ds).parent
        df["abs_path"] = [str(p) for p in resolve_paths(df, base)]
        frames.append(df)
    df = pd.concat(frames, ignore_index=True)
    dup = df["key"][df["key"].duplicated()]
    if len(dup):
        raise ManifestError(f"key(s) {', '.join(map(str, dup.head(5)))} appear in more than one dataset", "keys must be unique")
    if len(df) == 0:
        raise InputError(f"the dataset {', '.join(map(str, datasets))} is empty", "build or ingest some images first")
    return df


@dataclass
class TrainingSet:
    """Decoded images (N, 3, R, R) in [-1, 1], their caption index, and the duplicated epoch list."""

    keys: list[str]
    captions: list[str]  # unique captions, in first-seen order
    caption_of: np.ndarray  # (N,) index into captions
    pixels: np.ndarray  # (N, 3, R, R) float32
    factors: np.ndarray  # (N,) duplication factor per item
    resolution: int
    manifest_hash: str
    excluded: dict[str, str] = field(default_factory=dict)  # key -> author
    exclude_authors: list[str] = field(default_factory=list)
    exclude_keys: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # key -> reason (unreadable image)

    @property
    def epoch_length(self) -> int:
        return int(self.factors.sum())

    def expanded(self) -> np.ndarray:
        """Item index repeated by its duplication factor (one epoch, unshuffled)."""
        return np.repeat(np.arange(len(self.keys)), self.factors)

    def epoch_order(self, seed: int, epoch: int) -> np.ndarray:
        rng = np.random.default_rng([int(seed), int(epoch)])
        return self.expanded()[rng.permutation(self.epoch_length)]

    def batch_indices(self, seed: int, step: int, batch: int) -> np.ndarray:
        """Items of training step `step`: positions step*batch … across epoch boundaries, stateless."""
        n = self.epoch_length
        pos = np.arange(step * batch, (step + 1) * batch)
        out = np.empty(batch, dtype=np.int64)
        for epoch in np.unique(pos // n):
            sel = pos // n == epoch
            out[sel] = self.epoch_order(seed, int(epoch))[pos[sel] % n]
        return out

    def unmatched_authors(self) -> list[str]:
        """Excluded author names that matched no item (a typo, or an author who was never in the set)."""
        found = {a.strip().casefold() for a in self.excluded.values()}
        return [a for a in self.exclude_authors if a not in found]

    def record(self) -> dict[str, Any]:
        return {
            "manifest_hash": self.manifest_hash,
            "items": len(self.keys),
            "epoch_length": self.epoch_length,
            "unique_captions": len(self.captions),
            "duplication": {k: int(f) for k, f in zip(self.keys, self.factors) if f != 1},
            "exclude_authors": list(self.exclude_authors),
            "exclude_keys": list(self.exclude_keys),
            "excluded_keys": sorted(self.excluded),
            "exclude_authors_without_items": self.unmatched_authors(),
            "skipped": dict(self.skipped),
        }


def build_training_set(
    datasets: Sequence[str | Path],
    resolution: int,
    duplicates: dict[str, int] | None = None,
    exclude_authors: Sequence[str] = (),
    exclude_keys: Sequence[str] = (),
) -> TrainingSet:
    """Read manifest(s), drop excluded authors and keys, load pixels, attach duplication factors."""
    df = load_manifests(datasets)
    mhash = manifest_hash(df)
    duplicates = dict(duplicates or {})
    unknown = [k for k in duplicates if k not in set(df["key"])]
    if unknown:
        raise InputError(f"--duplicate names key(s) not in the dataset: {', '.join(unknown[:5])}", "check the keys in manifest.parquet")
    wanted = {a.strip().casefold() for a in exclude_authors if a.strip()}
    authors = df["author"].fillna("").astype(str).str.strip().str.casefold()
    drop = authors.isin(wanted) if wanted else pd.Series(False, index=df.index)
    drop_keys = sorted({str(k) for k in exclude_keys})
    missing = sorted(set(drop_keys) - set(df["key"].astype(str)))
    if missing:
        raise InputError(f"--exclude-key names key(s) not in the dataset: {', '.join(missing[:5])}",
                         "check the keys in manifest.parquet")
    drop = drop | df["key"].astype(str).isin(drop_keys)
    excluded = dict(zip(df.loc[drop, "key"].astype(str), df.loc[drop, "author"].astype(str)))
    clash = [k for k in duplicates if k in excluded]
    if clash:
        raise InputError(f"key(s) {', '.join(clash[:5])} are both duplicated and excluded", "drop one of the options")
    kept = df.loc[~drop].reset_index(drop=True)
    keys, pixels, caps, skipped = [], [], [], {}
    for key, path, cap in track(
        list(zip(kept["key"].astype(str), kept["abs_path"], kept["caption"].fillna("").astype(str))),
        desc="loading images", unit="img",
    ):
        try:
            pixels.append(square_pixels(load_rgb(path), resolution))
        except InputError as exc:
            skipped[key] = exc.message
            continue
        keys.append(key)
        caps.append(cap.strip())
    if not keys:
        why = "all items were excluded" if len(df) and not len(kept) else "no image could be read"
        raise InputError(f"nothing to train on: {why}", "check the dataset and the --exclude-author names")
    uniq: dict[str, int] = {}
    caption_of = np.array([uniq.setdefault(c, len(uniq)) for c in caps], dtype=np.int64)
    return TrainingSet(
        keys=keys,
        captions=list(uniq),
        caption_of=caption_of,
        pixels=np.stack(pixels),
        factors=np.array([duplicates.get(k, 1) for k in keys], dtype=np.int64),
        resolution=resolution,
        manifest_hash=mhash,
        excluded=excluded,
        exclude_authors=sorted(wanted),
        exclude_keys=drop_keys,
        skipped=skipped,
    )

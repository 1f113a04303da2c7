"""Image–caption pairs for CLIP training/evaluation: deterministic held-out split, cached decoded pixels.

The held-out split depends only on each row's key (sha256 of the key, 10 % of the hash space),
so it stays the same across runs, machines and dataset re-orderings, and training never sees it.
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from audit.atomic import atomic_path
from audit.errors import ImageError, InputError
from audit.images import load_rgb
from audit.progress import bar
from audit.records import manifest_hash, read_manifest, resolve_paths

HELDOUT_PERCENT = 10
SPLITS = ("train", "heldout", "all")


def is_heldout(key: str, percent: int = HELDOUT_PERCENT) -> bool:
    """Whether a row belongs to the held-out split (stable function of the key alone)."""
    digest = hashlib.sha256(str(key).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % 100 < percent


@dataclass(frozen=True)
class CaptionedSet:
    """Rows of one dataset with a non-empty caption, restricted to one split."""

    name: str
    directory: Path
    split: str
    manifest_hash: str
    keys: tuple[str, ...]
    paths: tuple[Path, ...]
    captions: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.keys)


def load_captioned(dataset_dir: str | Path, split: str = "train", limit: int | None = None) -> CaptionedSet:
    """Read a dataset's manifest and keep captioned rows of `split` (train | heldout | all)."""
    if split not in SPLITS:
        raise InputError(f"unknown split '{split}'", f"use one of {', '.join(SPLITS)}")
    directory = Path(dataset_dir)
    df = read_manifest(directory)
    base = directory if directory.is_dir() else directory.parent
    mhash = manifest_hash(df)
    captions = df["caption"].fillna("").astype(str).str.strip()
    df = df.assign(_caption=captions, _path=[str(p) for p in resolve_paths(df, base)])
    df = df[df["_caption"] != ""]
    if split != "all":
        held = df["key"].astype(str).map(is_heldout).astype(bool)
        df = df[held] if split == "heldout" else df[~held]
    if limit:
        df = df.iloc[:limit]
    if df.empty:
        raise InputError(
            f"{directory}: no captioned rows in the '{split}' split",
            "CLIP training and evaluation need images with captions",
        )
    return CaptionedSet(
        name=base.resolve().name,
        directory=base.resolve(),
        split=split,
        manifest_hash=mhash,
        keys=tuple(df["key"].astype(str)),
        paths=tuple(Path(p) for p in df["_path"]),
        captions=tuple(df["_caption"]),
    )


def square_pixels(img: Image.Image, size: int) -> np.ndarray:
    """Resize the shorter side to `size` and centre-crop: (size, size, 3) uint8, like CLIP's eval transform."""
    w, h = img.size
    scale = size / min(w, h)
    nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
    img = img.convert("RGB").resize((nw, nh), Image.Resampling.BICUBIC)
    left, top = (nw - size) // 2, (nh - size) // 2
    return np.asarray(img.crop((left, top, left + size, top + size)), dtype=np.uint8)


def preload_pixels(
    paths: tuple[Path, ...], size: int, cache: Path | None = None, desc: str = "decoding images"
) -> tuple[np.ndarray, np.ndarray]:
    """Decode all images once into a (N, size, size, 3) uint8 array; returns (pixels, ok_mask).

    Undecodable files are kept as blank rows with ok_mask False (training skips them). With `cache`,
    the array is stored as .npy and reused while the file list is unchanged.
    """
    if cache is not None and cache.is_file():
        try:
            data = np.load(cache)
            if data["pixels"].shape[0] == len(paths) and data["pixels"].shape[1] == size:
                return data["pixels"], data["ok"]
        except Exception:  # stale or truncated cache: rebuild it
            pass

    pixels = np.zeros((len(paths), size, size, 3), dtype=np.uint8)
    ok = np.ones(len(paths), dtype=bool)

    def work(i: int) -> None:
        try:
            pixels[i] = square_pixels(load_rgb(paths[i]), size)
        except ImageError:
            ok[i] = False

    pbar = bar(len(paths), desc, unit="img")
    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="preload") as pool:
        for _ in pool.map(work, range(len(paths))):
            pbar.update(1)
    pbar.close()
    if cache is not None:
        with atomic_path(cache, ".npz") as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, pixels=pixels, ok=ok)
    return pixels, ok

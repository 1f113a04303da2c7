"""Paths and defaults in one place, so every command and the app agree on them."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = PACKAGE_DIR.parent

#: Shipped assets (tiny CLIP checkpoint, reference sample set, generator checkpoint).
DATA_DIR = Path(os.environ.get("GENAUDIT_DATA", PROJECT_DIR / "data"))
#: Downloads (Debian packages) and other rebuildable caches.
CACHE_DIR = Path(os.environ.get("GENAUDIT_CACHE", Path.home() / ".cache" / "genaudit"))

#: Name of the embedded CLIP model; resolved by audit.embed.load_embedder.
DEFAULT_MODEL = "genaudit-tiny-clip"
TINY_CLIP_DIR = DATA_DIR / "tiny_clip"
REFERENCE_DIR = DATA_DIR / "reference"
GENERATOR_DIR = DATA_DIR / "generator"

#: Default output folder of `audit demo` (relative to the working directory).
DEMO_DIR = Path("demo")

#: Above this many vectors `audit index build` switches from exact to an approximate faiss index.
EXACT_INDEX_MAX = 50_000
#: How many candidates the approximate index returns per query before the exact re-rank.
RERANK_FACTOR = 10

#: Perceptual-hash Hamming distance (of 64 bits) under which two images count as near-duplicates.
PHASH_NEAR_DUPLICATE = 8
#: CLIP cosine at or above which clip-retrieval's dedup treats two images as duplicates.
CLIP_DUPLICATE_COSINE = 0.94

#: Longest side that ingested images are stored at (the field's tools keep originals; we keep audit copies).
STORED_IMAGE_MAX_SIDE = 512

DEFAULT_SEED = 0


def default_device() -> str:
    """CPU unless the user asked for something else through GENAUDIT_DEVICE."""
    return os.environ.get("GENAUDIT_DEVICE", "cpu")

"""Perceptual image hashes: one definition for every artefact that stores them.

The manifest's `phash` column, an index's hashes.parquet, tombstones, opt-out registry entries, memorisation
evidence and provenance fingerprints all hold these values, so they must come from one place and never change
bit-for-bit (tests/test_perceptual.py pins them on shipped images). The verbs mirror imagededup's one API for
every method: `encode` an image (pHash + dHash, 64 bits each, as unsigned ints), write them as 16 hex digits
(`to_hex` / `from_hex`) or as SQLite's signed 64-bit integers (`to_int64` / `from_int64`), compare them
(`distance`) and hash the mirrored image too (`encode_with_mirror`): global hashes miss horizontal flips
(NOTES: copy detection). Exact search over many hashes is `audit.index.hamming`.

imagehash (and scipy under it) is imported on first use, so importing this module stays light.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps

#: Bits per hash (imagehash's default hash_size 8 -> 8x8 bits).
HASH_BITS = 64
_MASK = (1 << HASH_BITS) - 1


@dataclass(frozen=True)
class PerceptualHash:
    """pHash (DCT signs) and dHash (horizontal gradient signs) of one image, as unsigned 64-bit ints."""

    phash: int
    dhash: int


def _bits_to_int(bits: np.ndarray) -> int:
    """imagehash's 8x8 bool matrix, row-major, first bit most significant (the order of imagehash's hex)."""
    return int.from_bytes(np.packbits(np.asarray(bits, dtype=bool).ravel()).tobytes(), "big")


def phash(img: Image.Image) -> int:
    """64-bit DCT perceptual hash (imagehash.phash) as an unsigned int."""
    import imagehash

    return _bits_to_int(imagehash.phash(img).hash)


def encode(img: Image.Image) -> PerceptualHash:
    """pHash and dHash of an image."""
    import imagehash

    return PerceptualHash(phash(img), _bits_to_int(imagehash.dhash(img).hash))


def mirror(img: Image.Image) -> Image.Image:
    """The horizontally flipped image (the variant global hashes do not match on their own)."""
    return ImageOps.mirror(img)


def encode_with_mirror(img: Image.Image) -> tuple[PerceptualHash, PerceptualHash]:
    """(hashes of the image, hashes of its mirror)."""
    return encode(img), encode(mirror(img))


def to_hex(value: int) -> str:
    """16 lower-case hex digits, the text form manifests, tombstones and registries store (imagehash's str())."""
    return f"{int(value) & _MASK:016x}"


def from_hex(text: str) -> int:
    """The unsigned int of a hex hash (raises ValueError on anything else)."""
    return int(str(text), 16) & _MASK


def phash_hex(img: Image.Image) -> str:
    """pHash as 16 hex digits: the manifest's `phash` column."""
    return to_hex(phash(img))


def to_int64(value: int) -> int:
    """An unsigned 64-bit hash as the signed integer SQLite (and Spark's long) can store."""
    value = int(value) & _MASK
    return value - (1 << HASH_BITS) if value >= 1 << (HASH_BITS - 1) else value


def from_int64(value: int) -> int:
    """Back from the signed form of `to_int64`."""
    return int(value) & _MASK


def distance(a: int, b: int) -> int:
    """Hamming distance of two 64-bit hashes (negative ints taken as two's complement)."""
    return ((int(a) ^ int(b)) & _MASK).bit_count()

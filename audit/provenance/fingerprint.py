"""Perceptual fingerprints (pHash + dHash, 64 bits each) to find a stamped image again when its
watermark is gone (heavy crops, strong JPEG). Global hashes survive resizing, mild JPEG and brightness;
they miss large crops and flips (see NOTES.md), so the distance is reported as the confidence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from audit import perceptual

#: accept a fingerprint match when pHash and dHash distances sum to at most this (of 128 bits);
#: unrelated images sit around 64 (see benchmarks/durable_bench.py false recoveries).
MAX_DISTANCE = 20
#: and when the query, scaled to the stored image's size, correlates with it at least this much
#: (64×64 grey, zero-mean): drawings of one series sit within 4–10 hash bits of each other but at
#: ≈0.7–0.97 correlation; JPEG 50, resize and darkening of the same image stay ≥ 0.99 on most.
MIN_SIMILARITY = 0.98


@dataclass(frozen=True)
class Fingerprint:
    """pHash + dHash of a stamped image (audit.perceptual), compared as one 128-bit code."""

    phash: int
    dhash: int

    @property
    def informative(self) -> bool:
        """False for flat or near-flat images (dHash almost all 0 or 1): their hashes collide with every other
        flat image, so a distance says nothing (measured: a plain-colour wallpaper matched another at 0)."""
        ones = self.dhash.bit_count()
        return 4 <= ones <= 60

    def distance(self, other: "Fingerprint") -> int:
        return perceptual.distance(self.phash, other.phash) + perceptual.distance(self.dhash, other.dhash)


def fingerprint(rgb: np.ndarray) -> Fingerprint:
    """pHash and dHash of an RGB uint8 array."""
    h = perceptual.encode(Image.fromarray(rgb))
    return Fingerprint(h.phash, h.dhash)


def similarity(a: np.ndarray, b: np.ndarray, side: int = 64) -> float:
    """Correlation of two RGB arrays as side×side zero-mean grey images (1.0 = same picture)."""
    import cv2

    def norm(x: np.ndarray) -> np.ndarray:
        g = cv2.resize(cv2.cvtColor(x, cv2.COLOR_RGB2GRAY).astype(np.float32), (side, side), interpolation=cv2.INTER_AREA)
        g -= g.mean()
        return g / (float(np.linalg.norm(g)) + 1e-6)

    return float((norm(a) * norm(b)).sum())

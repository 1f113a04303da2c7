"""Low-resolution evidence: copies generated at a small native size (e.g. a 32 px reference generator).

Why: a 32 px generation cannot carry 128–256 px detail, so comparing it at working size (upscaled, ORB
keypoints, 64 px tiled L2) finds no keypoints and penalises the model's colour cast; the tiny CLIP and the
pHash also miss such copies (docs/MEMORISATION.md, "Small generations"). Here both images are compared at
the *lower* of the two resolutions (the training image downsampled to the query's native size, centre square
as generators train), in grey after matching mean/std (colour casts do not count), by SSIM over the windows
that carry structure (flat background windows would make any two plain-background images look alike).

Because at 32 px many simple training images (synthetic shapes) look alike, a low-resolution copy must also
be *distinct*, with Carlini et al. 2023's relative criterion: the distance to the candidate divided by the mean
distance to the query's `RATIO_NEIGHBOURS` nearest *other* training images (those that are not the same
image as the candidate: thumbnail NCC to it below `SAME_IMAGE_NCC`). `ThumbIndex` (32 px grey thumbnails of
the index's images; distance between zero-mean unit-norm thumbnails, sqrt(2 - 2 NCC)) gives both a candidate
channel (nearest thumbnails) and that ratio.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from audit.errors import AuditError
from audit.images import load_image
from audit.progress import track
from audit.similarity import SSIM_WINDOW, ssim

#: Queries whose longest native side is at most this get the low-resolution path (geometry is weak below).
LOWRES_MAX_SIDE = 64
#: Below this side SSIM's 7x7 window has too little to work with: no low-resolution evidence.
LOWRES_MIN_SIDE = 16
#: Side of the retrieval thumbnails.
THUMB = 32
#: Two training images whose thumbnails correlate at least this much are the same image (duplicates).
SAME_IMAGE_NCC = 0.95
#: Carlini et al. 2023 compare with the mean distance to the n = 50 nearest other training images.
RATIO_NEIGHBOURS = 50
#: Local grey-level std (0–255) above which an SSIM window (7x7) carries structure.
FLAT_STD = 8.0
#: The thumbnail channel is built only for indexes with at most this many images (32x32 float32 each).
MAX_THUMB_ITEMS = 50_000

_GREY = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def is_small(img: Image.Image) -> bool:
    return LOWRES_MIN_SIDE <= min(img.size) and max(img.size) <= LOWRES_MAX_SIDE


def centre_square(img: Image.Image) -> Image.Image:
    w, h = img.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    return img.crop((left, top, left + side, top + side))


def grey(img: Image.Image, size: tuple[int, int]) -> np.ndarray:
    """Grey float32 (0–255) at `size`, area-averaged when shrinking (what a downsampling generator sees)."""
    rgb = np.asarray(img.convert("RGB").resize(size, Image.Resampling.BOX), dtype=np.float32)
    return rgb @ _GREY


def structure_ssim(q: np.ndarray, c: np.ndarray) -> float:
    """SSIM of grey `q` vs `c` (same shape) over windows with structure, after matching q's mean/std to c's."""
    import cv2

    q = (q - q.mean()) / max(float(q.std()), 4.0) * max(float(c.std()), 4.0) + c.mean()
    win = (SSIM_WINDOW, SSIM_WINDOW)

    def local_std(x: np.ndarray) -> np.ndarray:
        m = cv2.blur(x, win)
        return np.sqrt(np.maximum(cv2.blur(x * x, win) - m * m, 0.0))

    mask = (local_std(q) > FLAT_STD) | (local_std(c) > FLAT_STD)
    return ssim(q, c, data_range=255.0, mask=mask) if mask.mean() >= 0.05 else 0.0


def lowres_ssim(query: Image.Image, training: Image.Image) -> float:
    """Structure SSIM at the query's native size; the training image's centre square when the query is square."""
    w, h = query.size
    src = centre_square(training) if abs(w - h) <= 1 else training
    return structure_ssim(grey(query, (w, h)), grey(src, (w, h)))


def thumb_vector(img: Image.Image) -> np.ndarray:
    """Zero-mean, unit-norm 32x32 grey thumbnail of the centre square (all zeros for a flat image)."""
    v = grey(centre_square(img), (THUMB, THUMB)).ravel()
    v = v - v.mean()
    n = float(np.linalg.norm(v))
    return (v / n if n > 1e-3 * v.size else np.zeros_like(v)).astype(np.float32)


class ThumbIndex:
    """32 px grey thumbnails of the index's images, for retrieval by NCC and the distinctness margin."""

    def __init__(self, ids: np.ndarray, vectors: np.ndarray):
        self.ids, self.vectors = ids.astype(np.int64), vectors.astype(np.float32)
        self._pos = {int(i): p for p, i in enumerate(self.ids)}

    @classmethod
    def build(cls, index, ids: Sequence[int] | np.ndarray) -> ThumbIndex:
        """Thumbnails of every index row whose pixels are stored (rows without pixels are left out)."""
        kept, vecs = [], []
        for i in track(list(ids), "thumbnails", unit="img"):
            try:
                path = Path(index.image_path(int(i)))
                if path.is_file():
                    vecs.append(thumb_vector(load_image(path).image))
                    kept.append(int(i))
            except (AuditError, OSError):
                continue
        mat = np.stack(vecs) if vecs else np.zeros((0, THUMB * THUMB), np.float32)
        return cls(np.array(kept, dtype=np.int64), mat)

    def __len__(self) -> int:
        return len(self.ids)

    def scores(self, qvec: np.ndarray) -> np.ndarray:
        return self.vectors @ qvec

    def nearest(self, qvec: np.ndarray, n: int) -> list[int]:
        if not len(self) or not qvec.any():
            return []
        s = self.scores(qvec)
        return [int(self.ids[p]) for p in np.argsort(-s)[:n]]

    def ratio(self, qvec: np.ndarray, cand_id: int, scores: np.ndarray | None = None) -> float:
        """Distance to the candidate / mean distance to the nearest other training images (NaN if unknown)."""
        p = self._pos.get(int(cand_id))
        if p is None or not qvec.any():
            return float("nan")
        s = self.scores(qvec) if scores is None else scores
        other = (self.vectors @ self.vectors[p]) < SAME_IMAGE_NCC
        if not other.any():
            return float("nan")
        dist = np.sqrt(np.maximum(2.0 - 2.0 * s, 0.0))
        near = np.sort(dist[other])[:RATIO_NEIGHBOURS]
        return float(dist[p] / max(float(near.mean()), 1e-6))


class LazyThumbs:
    """Builds the ThumbIndex once, on first use, thread-safely; None when the index is too large."""

    def __init__(self, index, ids: np.ndarray):
        denied = np.asarray(getattr(index, "denied_ids", ()), dtype=np.int64)
        self.index, self.ids = index, ids[~np.isin(ids, denied)] if len(denied) else ids
        self._lock = threading.Lock()
        self._built: ThumbIndex | None = None
        self.warning: str | None = None

    def get(self) -> ThumbIndex | None:
        with self._lock:
            if self._built is None and self.warning is None:
                if len(self.ids) > MAX_THUMB_ITEMS:
                    self.warning = (f"index has {len(self.ids)} images (> {MAX_THUMB_ITEMS}): no low-resolution "
                                    "thumbnail channel, small generations cannot be called copies at low resolution")
                else:
                    self._built = ThumbIndex.build(self.index, self.ids)
            return self._built

"""Crop-tolerant recovery: ORB keypoints of every durable-stamped image, kept in the manifest store,
matched against a query whose watermark and global fingerprint were both lost (crops shift the mark's
block grid and change pHash/dHash completely).

Route: faiss binary index over all stored descriptors → Hamming votes pick a few candidate entries →
RANSAC similarity fit (memorisation.evidence.align) → the query is warped onto the stored signed copy
and its pixels must agree tile by tile (aligned_check.py: tolerates stickers, caption boxes and
redactions over up to ~45 % of the overlap, refuses look-alikes whose textured tiles differ).
The query's mirror image goes through the same route (ORB descriptors are not mirror-invariant), so a
horizontally flipped copy is found too and reported as mirrored.

Settings measured in benchmarks/durable_bench.py (RESULTS.md "Durable provenance"): 1000 ORB features
with a low FAST threshold (3, not OpenCV's 20) at a 512 px long side, so smooth wallpapers still get
keypoints. Unrelated images reach ≤ 8 inliers, variants of one card deck up to 31, the ornamental twin of
a stamped card 631 (refused by its artwork tiles). Limits: smooth gradients have no corners; a
re-generation of a memorised image by a 32 px generator passes like a crop would (RESULTS.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
from PIL import Image

from audit.memorisation.evidence import Features, align, grid_pixels, load_cv2
from audit.provenance.aligned_check import PixelCheck, check

ALG = "org.genaudit.orb512.v1"  # bump when detector settings change: stored features must match the query's
WORK_SIDE = 512
MAX_FEATURES = 1000
FAST_THRESHOLD = 3
VOTE_DISTANCE = 64  # of 256 descriptor bits: a nearest stored descriptor this close votes for its entry
CANDIDATES = 4  # entries verified geometrically per query
MIN_INLIERS = 10


@dataclass(frozen=True)
class LocalFeatures:
    """ORB keypoints (x, y at the work size) and 32-byte descriptors of one image."""

    width: int  # work size the keypoints refer to
    height: int
    keypoints: np.ndarray  # (n, 2) float32
    descriptors: np.ndarray  # (n, 32) uint8

    def to_blobs(self) -> tuple[bytes, bytes]:
        return self.keypoints.astype("<f4").tobytes(), self.descriptors.astype(np.uint8).tobytes()

    @classmethod
    def from_blobs(cls, width: int, height: int, kps: bytes, desc: bytes) -> "LocalFeatures":
        return cls(width, height, np.frombuffer(kps, "<f4").reshape(-1, 2).astype(np.float32),
                   np.frombuffer(desc, np.uint8).reshape(-1, 32))


@dataclass(frozen=True)
class LocalMatch:
    """A geometrically verified match of a query onto one stored image, with the evidence for it."""

    wm_id: str
    votes: int  # query descriptors whose nearest stored descriptor belongs to this entry
    inliers: int  # RANSAC inliers of the similarity transform
    matches: int  # ratio-test matches RANSAC started from
    scale: float  # query → stored scale
    pixels: PixelCheck  # tile votes of the aligned query against the stored signed copy
    mirrored: bool = False  # the query's mirror image matched (a horizontally flipped copy)

    @property
    def inlier_ratio(self) -> float:
        return self.inliers / self.matches if self.matches else 0.0

    @property
    def ssim(self) -> float:
        return self.pixels.ssim

    @property
    def tile_rms(self) -> float:
        return self.pixels.tile_rms

    @property
    def overlap(self) -> float:
        return self.pixels.overlap

    @property
    def accepted(self) -> bool:
        return self.inliers >= MIN_INLIERS and self.pixels.accepted


def _work_rgb(rgb: np.ndarray) -> np.ndarray:
    cv2 = _cv2()
    h, w = rgb.shape[:2]
    s = WORK_SIDE / max(h, w)
    size = (max(8, round(w * s)), max(8, round(h * s)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)


def _cv2():
    return load_cv2()


def _features(rgb: np.ndarray):
    """evidence.Features at the work size (the matcher and the pixel check take that type)."""
    cv2 = _cv2()
    work = _work_rgb(rgb)
    gray = cv2.cvtColor(work, cv2.COLOR_RGB2GRAY)
    det = cv2.ORB_create(nfeatures=MAX_FEATURES, scaleFactor=1.2, nlevels=8, edgeThreshold=15, patchSize=15,
                         fastThreshold=FAST_THRESHOLD)
    kps, desc = det.detectAndCompute(gray, None)
    pts = np.array([k.pt for k in kps], dtype=np.float32).reshape(-1, 2)
    if desc is None:
        desc = np.zeros((0, 32), np.uint8)

    return Features(work, gray, grid_pixels(Image.fromarray(work)), pts, desc, "orb")


def extract(rgb: np.ndarray) -> LocalFeatures:
    """What the store keeps for one stamped image (RGB uint8, any size)."""
    f = _features(rgb)
    return LocalFeatures(f.rgb.shape[1], f.rgb.shape[0], f.keypoints, f.descriptors)


def vote(query_desc: np.ndarray, stored: Sequence[tuple[str, LocalFeatures]], top: int = CANDIDATES
         ) -> list[tuple[str, int]]:
    """Entries ranked by how many query descriptors find their nearest stored descriptor in them."""
    import faiss

    stored = [(k, f) for k, f in stored if len(f.descriptors)]
    if not len(query_desc) or not stored:
        return []
    index = faiss.IndexBinaryFlat(256)
    index.add(np.ascontiguousarray(np.concatenate([f.descriptors for _, f in stored])))
    owner = np.concatenate([np.full(len(f.descriptors), i) for i, (_, f) in enumerate(stored)])
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)  # one small query: on a loaded machine OpenMP threads only spin (measured 1.5 s)
    try:
        dist, idx = index.search(np.ascontiguousarray(query_desc), 1)
    finally:
        faiss.omp_set_num_threads(threads)
    near = idx[:, 0][(dist[:, 0] <= VOTE_DISTANCE) & (idx[:, 0] >= 0)]
    counts = np.bincount(owner[near], minlength=len(stored))
    order = np.argsort(-counts, kind="stable")[:top]
    return [(stored[i][0], int(counts[i])) for i in order if counts[i] > 0]


def verify(query, stored: LocalFeatures, stored_rgb: np.ndarray, wm_id: str, votes: int,
           mirrored: bool = False) -> LocalMatch | None:
    """RANSAC fit of the query onto one stored image, then the tile-wise pixel check against its signed copy."""
    cv2 = _cv2()
    rgb = cv2.resize(stored_rgb, (stored.width, stored.height), interpolation=cv2.INTER_AREA)
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    no_grid = np.empty((0, 0, 3), np.float32)  # alignment reads keypoints only, never the tile grid
    cand = Features(rgb, gray, no_grid, stored.keypoints, stored.descriptors, "orb")
    a = align(query, cand)
    if a is None:
        return None
    return LocalMatch(wm_id, votes, a.inliers, a.matches, a.scale, check(query.rgb, rgb, a.matrix), mirrored)


def match(rgb: np.ndarray, stored: Iterable[tuple[str, LocalFeatures]], load_rgb) -> tuple[LocalMatch | None,
                                                                                         LocalMatch | None]:
    """(accepted match or None, best rejected candidate for the report). `load_rgb(wm_id)` gives the signed copy.

    The query, then (if nothing was accepted) its mirror image, votes for CANDIDATES entries to verify."""
    stored = list(stored)
    by_id = dict(stored)
    best_rejected: LocalMatch | None = None
    found: list[LocalMatch] = []
    pixels: dict[str, np.ndarray | None] = {}
    for mirrored in (False, True):
        if found:  # the image as given matched: its mirror need not be searched
            break
        query = _features(np.ascontiguousarray(rgb[:, ::-1]) if mirrored else rgb)
        for wm_id, votes in vote(query.descriptors, stored):
            if wm_id not in pixels:
                pixels[wm_id] = load_rgb(wm_id)
            stored_rgb = pixels[wm_id]
            if stored_rgb is None:
                continue
            m = verify(query, by_id[wm_id], stored_rgb, wm_id, votes, mirrored)
            if m is None:
                continue
            if m.accepted:
                found.append(m)
            elif best_rejected is None or m.inliers > best_rejected.inliers:
                best_rejected = m
    if found:
        return max(found, key=lambda m: (m.inliers, m.ssim)), best_rejected
    return None, best_rejected

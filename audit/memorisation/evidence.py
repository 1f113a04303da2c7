"""Pixel-level evidence that a generated image copies a training image.

Two complementary measures, because one signal is not enough (see docs/MEMORISATION.md):

* Carlini et al.'s tiled L2: both images resized to the same grid, split into 4x4 tiles, the RMS
  difference of each tile on [0, 1] pixels, worst tile reported. Exact for near-verbatim copies,
  blind to crops, flips, rotations and borders.
* Geometric verification: local features (SIFT or ORB) matched between the query (and its mirror)
  and the candidate, a similarity transform fitted with RANSAC; the inlier count says "the same
  content, moved", and SSIM/tiled L2 after warping the query onto the candidate say how much of
  the pixels survived. Handles crops, rescaling, JPEG, colour shifts, flips, rotation and padding.

All functions take PIL images or prepared `Features`; cv2 is imported lazily.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from audit import perceptual
from audit.memorisation.verdict import PairScores
from audit.similarity import ssim

#: Side (pixels) images are brought to for feature extraction and alignment.
WORK_SIDE = 256
#: Grid (pixels) for the unaligned tiled L2.
TILE_GRID = 64
TILES = 4
#: Plausible query->candidate scale range for a copy (a crop of 30 % area is ~1.8x; padding shrinks).
MIN_SCALE, MAX_SCALE = 0.33, 3.0


def load_cv2():
    import cv2

    cv2.setNumThreads(1)
    return cv2


def to_work_rgb(img: Image.Image, side: int = WORK_SIDE) -> np.ndarray:
    """RGB uint8 with the longest side == `side` (up- or downscaled), aspect kept."""
    scale = side / max(img.size)
    size = (max(8, round(img.width * scale)), max(8, round(img.height * scale)))
    return np.asarray(img.convert("RGB").resize(size, Image.Resampling.BILINEAR), dtype=np.uint8)


def tiled_l2(a: np.ndarray, b: np.ndarray, tiles: int = TILES) -> float:
    """Worst 4x4-tile RMS difference of two same-shape float images in [0, 1] (Carlini et al. 2023)."""
    h, w = a.shape[:2]
    worst = 0.0
    for i in range(tiles):
        for j in range(tiles):
            ys, ye = i * h // tiles, (i + 1) * h // tiles
            xs, xe = j * w // tiles, (j + 1) * w // tiles
            d = a[ys:ye, xs:xe] - b[ys:ye, xs:xe]
            worst = max(worst, float(np.sqrt(np.mean(d * d))))
    return worst


def grid_pixels(img: Image.Image, grid: int = TILE_GRID) -> np.ndarray:
    """Image squashed to grid x grid RGB float in [0, 1]: the unaligned tiled-L2 representation."""
    return np.asarray(img.convert("RGB").resize((grid, grid), Image.Resampling.BILINEAR), dtype=np.float32) / 255.0


@dataclass(frozen=True)
class Features:
    """An image prepared once for many comparisons: working-size pixels and local features."""

    rgb: np.ndarray  # (h, w, 3) uint8 at working size
    gray: np.ndarray  # (h, w) uint8
    grid: np.ndarray  # (TILE_GRID, TILE_GRID, 3) float32
    keypoints: np.ndarray  # (n, 2) float32 xy
    descriptors: np.ndarray | None
    detector: str


def _detect(gray: np.ndarray, detector: str, max_features: int) -> tuple[np.ndarray, np.ndarray | None]:
    cv2 = load_cv2()
    if detector == "sift":
        det = cv2.SIFT_create(nfeatures=max_features, contrastThreshold=0.02)
    elif detector == "orb":
        det = cv2.ORB_create(nfeatures=max_features, scaleFactor=1.2, nlevels=8, edgeThreshold=15, patchSize=15)
    else:
        raise ValueError(f"unknown detector {detector!r}")
    kps, desc = det.detectAndCompute(gray, None)
    pts = np.array([k.pt for k in kps], dtype=np.float32).reshape(-1, 2)
    return pts, desc


def prepare(img: Image.Image, detector: str = "orb", max_features: int = 600, mirror: bool = False) -> Features:
    """Bring `img` (mirrored if asked) to working size and extract local features."""
    if mirror:
        img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    rgb = to_work_rgb(img)
    gray = load_cv2().cvtColor(rgb, load_cv2().COLOR_RGB2GRAY)
    pts, desc = _detect(gray, detector, max_features)
    return Features(rgb, gray, grid_pixels(img), pts, desc, detector)


@dataclass(frozen=True)
class Alignment:
    """A similarity transform mapping query pixels onto candidate pixels, with its support."""

    matrix: np.ndarray  # 2x3
    inliers: int
    matches: int
    mirrored: bool

    @property
    def scale(self) -> float:
        return float(math.hypot(self.matrix[0, 0], self.matrix[1, 0]))

    @property
    def rotation_deg(self) -> float:
        return float(math.degrees(math.atan2(self.matrix[1, 0], self.matrix[0, 0])))


def align(query: Features, cand: Features, mirrored: bool = False, ratio: float = 0.8) -> Alignment | None:
    """Match descriptors (Lowe ratio test) and fit a RANSAC similarity transform query -> candidate."""
    cv2 = load_cv2()
    if query.descriptors is None or cand.descriptors is None or len(query.keypoints) < 3 or len(cand.keypoints) < 3:
        return None
    norm = cv2.NORM_HAMMING if query.detector == "orb" else cv2.NORM_L2
    matcher = cv2.BFMatcher(norm)
    knn = matcher.knnMatch(query.descriptors, cand.descriptors, k=2)
    good = [m[0] for m in knn if len(m) == 2 and m[0].distance < ratio * m[1].distance]
    # One-to-one: a candidate keypoint may support only one match (repeated texture otherwise
    # lets a degenerate transform collect many "inliers" on a single point).
    best: dict[int, Any] = {}
    for m in good:
        if m.trainIdx not in best or m.distance < best[m.trainIdx].distance:
            best[m.trainIdx] = m
    good = list(best.values())
    if len(good) < 4:
        return None
    src = query.keypoints[[m.queryIdx for m in good]]
    dst = cand.keypoints[[m.trainIdx for m in good]]
    matrix, mask = cv2.estimateAffinePartial2D(
        src, dst, method=cv2.RANSAC, ransacReprojThreshold=4.0, maxIters=2000, confidence=0.995
    )
    if matrix is None or mask is None:
        return None
    found = Alignment(matrix, int(mask.sum()), len(good), mirrored)
    if not (MIN_SCALE <= found.scale <= MAX_SCALE):
        return None  # degenerate fit: collapses or explodes the query
    return found


def best_alignment(query: Features, query_mirror: Features | None, cand: Features) -> Alignment | None:
    """The better-supported of the direct and mirrored alignments."""
    found = [a for a in (align(query, cand), align(query_mirror, cand, mirrored=True) if query_mirror else None) if a]
    return max(found, key=lambda a: a.inliers) if found else None


@dataclass(frozen=True)
class AlignedScores:
    ssim: float  # mean SSIM over the overlap, after matching brightness/contrast
    tiled_l2: float  # worst-tile RMS over the overlap after the same colour matching
    overlap: float  # fraction of the candidate covered by the warped query


def _standardise_to(src: np.ndarray, ref: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Match `src`'s mean/std inside `mask` to `ref`'s, per channel: removes global colour shifts."""
    out = src.astype(np.float32).copy()
    m = mask.astype(bool)
    if m.sum() < 16:
        return out
    for c in range(out.shape[2] if out.ndim == 3 else 1):
        s = out[..., c] if out.ndim == 3 else out
        r = ref[..., c] if ref.ndim == 3 else ref
        s_std, r_std = float(s[m].std()), float(r[m].std())
        gain = r_std / s_std if s_std > 1e-3 else 1.0
        gain = min(max(gain, 0.5), 2.0)
        s[...] = (s - s[m].mean()) * gain + r[m].mean()
    return np.clip(out, 0, 255)


def aligned_scores(query: Features, cand: Features, alignment: Alignment) -> AlignedScores:
    """Warp the query onto the candidate and measure how much of the pixels agree."""
    cv2 = load_cv2()
    h, w = cand.gray.shape
    warped = cv2.warpAffine(query.rgb, alignment.matrix, (w, h), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))
    ones = np.full(query.gray.shape, 255, np.uint8)
    mask = cv2.warpAffine(ones, alignment.matrix, (w, h), flags=cv2.INTER_NEAREST, borderValue=0)
    mask = cv2.erode(mask, np.ones((5, 5), np.uint8)) > 0
    overlap = float(mask.mean())
    if mask.sum() < 64:
        return AlignedScores(0.0, 1.0, overlap)
    matched = _standardise_to(warped, cand.rgb, mask)
    ref = cand.rgb.astype(np.float32)
    # SSIM at half resolution on a light blur: robust to JPEG, resampling and mild blur.
    g_q = cv2.GaussianBlur(cv2.cvtColor(matched.astype(np.uint8), cv2.COLOR_RGB2GRAY), (0, 0), 1.0)
    g_c = cv2.GaussianBlur(cand.gray, (0, 0), 1.0)
    small = (max(8, w // 2), max(8, h // 2))
    g_q = cv2.resize(g_q, small, interpolation=cv2.INTER_AREA)
    g_c = cv2.resize(g_c, small, interpolation=cv2.INTER_AREA)
    m_small = cv2.resize(mask.astype(np.uint8), small, interpolation=cv2.INTER_NEAREST) > 0
    overlap_ssim = ssim(g_q, g_c, data_range=255, mask=m_small)
    diff = (matched - ref) / 255.0
    diff[~mask] = 0.0
    worst = 0.0
    for i in range(TILES):
        for j in range(TILES):
            ys, ye, xs, xe = i * h // TILES, (i + 1) * h // TILES, j * w // TILES, (j + 1) * w // TILES
            tm = mask[ys:ye, xs:xe]
            if tm.mean() < 0.5:
                continue
            d = diff[ys:ye, xs:xe][tm]
            worst = max(worst, float(np.sqrt(np.mean(d * d))))
    return AlignedScores(overlap_ssim, worst, overlap)


@dataclass(frozen=True)
class Query:
    """A generated image prepared once: features of it and of its mirror, and both pHashes."""

    direct: Features
    mirror: Features
    phash: int
    phash_mirror: int


def prepare_query(img: Image.Image, detector: str = "orb") -> Query:
    flipped = perceptual.mirror(img)
    return Query(prepare(img, detector), prepare(flipped, detector), perceptual.phash(img), perceptual.phash(flipped))


@dataclass(frozen=True)
class Candidate:
    """A training image prepared once (features + pHash), reusable across queries.

    `crop_grid`/`crop_phash` describe its centre square: generators train on resize + centre-crop, so a
    memorised non-square image comes back as that square (None when the image is already square).
    """

    features: Features
    phash: int
    crop_grid: np.ndarray | None = None
    crop_phash: int | None = None


def centre_square(img: Image.Image) -> Image.Image | None:
    """The centre square crop, or None when the image is (nearly) square already."""
    w, h = img.size
    side = min(w, h)
    if max(w, h) <= side * 1.05:
        return None
    left, top = (w - side) // 2, (h - side) // 2
    return img.crop((left, top, left + side, top + side))


def prepare_candidate(img: Image.Image, detector: str = "orb") -> Candidate:
    square = centre_square(img)
    if square is None:
        return Candidate(prepare(img, detector), perceptual.phash(img))
    return Candidate(prepare(img, detector), perceptual.phash(img), grid_pixels(square), perceptual.phash(square))


def measure(q: Query, c: Candidate, clip_cosine: float = float("nan")):
    """All pixel scores of one (query, candidate) pair as a verdict.PairScores."""
    l2 = tiled_l2(q.direct.grid, c.features.grid)
    dist = min(perceptual.distance(q.phash, c.phash), perceptual.distance(q.phash_mirror, c.phash))
    if c.crop_grid is not None and c.crop_phash is not None and q.direct.rgb.shape[0] == q.direct.rgb.shape[1]:
        # A square generation against a non-square training image: also compare the centre crop.
        l2 = min(l2, tiled_l2(q.direct.grid, c.crop_grid), tiled_l2(q.mirror.grid, c.crop_grid))
        dist = min(dist, perceptual.distance(q.phash, c.crop_phash), perceptual.distance(q.phash_mirror, c.crop_phash))
    a = best_alignment(q.direct, q.mirror, c.features)
    if a is None:
        return PairScores(clip_cosine=clip_cosine, phash_distance=dist, tiled_l2=l2)
    s = aligned_scores(q.mirror if a.mirrored else q.direct, c.features, a)
    return PairScores(
        clip_cosine=clip_cosine, phash_distance=dist, tiled_l2=l2, inliers=a.inliers, aligned_l2=s.tiled_l2,
        ssim=s.ssim, overlap=s.overlap, mirrored=a.mirrored, rotation_deg=a.rotation_deg, scale=a.scale,
    )


def trim_border(img: Image.Image, tolerance: int = 12, min_keep: float = 0.3) -> Image.Image | None:
    """The image without a plain border (padding), or None if it has none.

    Global signals (CLIP, pHash) miss padded copies; retrieval also runs on the trimmed query.
    The border colour is the median of the four corners; rows/columns within `tolerance` of it are cut.
    """
    a = np.asarray(img.convert("RGB"), dtype=np.int16)
    h, w = a.shape[:2]
    if h < 16 or w < 16:
        return None
    corners = np.stack([a[0, 0], a[0, -1], a[-1, 0], a[-1, -1]])
    colour = np.median(corners, axis=0)
    differs = (np.abs(a - colour).max(axis=2) > tolerance)
    rows, cols = np.flatnonzero(differs.any(axis=1)), np.flatnonzero(differs.any(axis=0))
    if not len(rows) or not len(cols):
        return None
    box = (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)
    bw, bh = box[2] - box[0], box[3] - box[1]
    if (bw >= w - 2 and bh >= h - 2) or bw < w * min_keep or bh < h * min_keep:
        return None
    return img.crop(box)

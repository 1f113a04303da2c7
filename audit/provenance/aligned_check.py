"""Aligned pixel check for the local-feature route that tolerates partial occlusion.

After RANSAC has mapped the query onto a stored signed copy, the warped query must show the stored
image's pixels. A sticker, caption box or redaction replaces part of them, so one global score (SSIM
over the overlap, worst tile) refuses an occluded copy although most of it is untouched. Instead the
overlap is cut into GRID × GRID tiles and each tile votes: it agrees when its colour-matched RMS is small
and, if the stored tile has texture, its SSIM is high. A copy is accepted when enough *textured* tiles
agree (flat tiles, e.g. white paper, agree with anything and prove nothing) and the disagreeing tiles are
either few (≤ 8 %, anywhere) or form one compact region of up to 55 % of the tiles (a sticker, caption
box or redaction covers one block); they are reported as the occluded share.

Colour matching is robust: per-channel gain/offset are fitted on the whole overlap, then refitted on
the better-agreeing half of the tiles, so an opaque rectangle does not shift every other tile.
Look-alikes (the ornamental and the plain version of one playing card: same layout, other artwork)
agree on the flat margins and the corner indices, but their differing artwork is spread between them
(12–22 % of the tiles in several regions), so they are refused. A look-alike that differs in one compact
block (the same picture with another centre) cannot be told from a sticker by pixels alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from audit.memorisation.evidence import load_cv2

GRID = 16  # tiles per side of the stored image at the work size (32 px tiles at 512 px)
MIN_TILE_COVER = 0.5  # a tile counts when the warped query covers at least this share of it
TEXTURE_STD = 8.0  # grey std (0–255) above which a stored tile has texture worth checking
TILE_RMS = 0.075  # a tile agrees when its colour-matched RMS (pixels in [0, 1]) is at most this …
TILE_SSIM = 0.6  # … and, if textured, its mean SSIM is at least this
MIN_TILES = 24  # covered tiles needed for any verdict
MIN_TEXTURED = 12  # textured tiles that must agree
MIN_SSIM = 0.85  # mean SSIM over the agreeing textured tiles
MAX_SCATTERED = 0.08  # share of covered tiles that may disagree anywhere (crop edges, small edits) …
MAX_OCCLUDED = 0.55  # … or in one compact region (a sticker, caption box, redaction of up to ~40 % of the area:
#                      tiles it only partly covers disagree too)
MIN_COMPACT = 0.85  # compact: the largest 8-connected disagreeing region holds this share of them …
MIN_BOX_FILL = 0.5  # … and fills at least this share of its bounding box
MIN_TEXTURED_AGREE = 0.35  # with an occluded region: share of the covered textured tiles that must still agree


@dataclass(frozen=True)
class PixelCheck:
    """Tile votes of the warped query against the stored copy, with the numbers behind the verdict."""

    tiles: int  # covered tiles
    agree: int  # covered tiles that agree
    textured: int  # covered tiles with texture in the stored copy
    textured_agree: int
    ssim: float  # mean SSIM over the agreeing textured tiles (0 when none)
    tile_rms: float  # worst RMS among the agreeing tiles
    worst_rms: float  # worst RMS among all covered tiles (large where occluded)
    overlap: float  # share of the stored image the warped query covers
    compact: float = 0.0  # share of the disagreeing tiles in their largest connected region
    box_fill: float = 0.0  # how much of that region's bounding box it fills (1 = a rectangle)

    @property
    def agree_share(self) -> float:
        return self.agree / self.tiles if self.tiles else 0.0

    @property
    def occluded(self) -> float:
        """Share of the covered tiles that disagree (occluded or changed)."""
        return 1.0 - self.agree_share if self.tiles else 0.0

    @property
    def one_region(self) -> bool:
        """The disagreeing tiles form one compact region, as a sticker or caption box does (a look-alike's
        different artwork is spread between agreeing margins and layout)."""
        return self.compact >= MIN_COMPACT and self.box_fill >= MIN_BOX_FILL

    @property
    def accepted(self) -> bool:
        if self.tiles < MIN_TILES or self.textured_agree < MIN_TEXTURED or self.ssim < MIN_SSIM:
            return False
        if self.occluded <= MAX_SCATTERED:
            return True
        return (self.occluded <= MAX_OCCLUDED and self.one_region
                and self.textured_agree >= MIN_TEXTURED_AGREE * self.textured)

    def describe(self) -> str:
        shape = (f"; the rest in one region ({self.compact:.0%} of them, filling {self.box_fill:.0%} of its box)"
                 if self.one_region else f"; the rest scattered (largest region {self.compact:.0%} of them)")
        return (f"{self.agree}/{self.tiles} tiles agree ({self.textured_agree}/{self.textured} textured), SSIM "
                f"{self.ssim:.3f} over them, worst agreeing tile {self.tile_rms:.3f}"
                + (shape if self.agree < self.tiles else ""))

    @staticmethod
    def needs() -> str:
        return (f"needs ≥ {MIN_TILES} tiles, ≥ {MIN_TEXTURED} textured ones agreeing, SSIM ≥ {MIN_SSIM}, and ≤ "
                f"{MAX_SCATTERED:.0%} disagreeing, or ≤ {MAX_OCCLUDED:.0%} in one compact region with ≥ "
                f"{MIN_TEXTURED_AGREE:.0%} of the textured tiles agreeing")


def _bounds(n: int) -> np.ndarray:
    return np.array([k * n // GRID for k in range(GRID + 1)])


def _tile_sums(x: np.ndarray, rb: np.ndarray, cb: np.ndarray) -> np.ndarray:
    """GRID × GRID sums of a 2-D array over the tiles bounded by `rb` (rows) and `cb` (columns)."""
    return np.add.reduceat(np.add.reduceat(x, rb[:-1], axis=0), cb[:-1], axis=1)


def _fit_colour(src: np.ndarray, ref: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """`src` with each channel's mean/std inside `mask` matched to `ref`'s (gain clamped to [0.5, 2])."""
    out = src.astype(np.float32).copy()
    if mask.sum() < 16:
        return out
    for c in range(out.shape[2]):
        s, r = out[..., c], ref[..., c]
        s_std, r_std = float(s[mask].std()), float(r[mask].std())
        gain = min(max(r_std / s_std if s_std > 1e-3 else 1.0, 0.5), 2.0)
        s[...] = (s - s[mask].mean()) * gain + r[mask].mean()
    return np.clip(out, 0, 255)


def _tile_rms(matched: np.ndarray, ref: np.ndarray, m: np.ndarray, n: np.ndarray, rb, cb) -> np.ndarray:
    d2 = (((matched - ref) / 255.0) ** 2).sum(axis=2) * m
    return np.sqrt(_tile_sums(d2, rb, cb) / np.maximum(3 * n, 1))


def check(query_rgb: np.ndarray, stored_rgb: np.ndarray, matrix: np.ndarray) -> PixelCheck:
    """Warp `query_rgb` by the 2×3 `matrix` onto `stored_rgb` (both uint8 RGB at the work size) and vote."""
    from skimage.metrics import structural_similarity

    cv2 = load_cv2()
    h, w = stored_rgb.shape[:2]
    warped = cv2.warpAffine(query_rgb, matrix, (w, h), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))
    ones = np.full(query_rgb.shape[:2], 255, np.uint8)
    mask = cv2.erode(cv2.warpAffine(ones, matrix, (w, h), flags=cv2.INTER_NEAREST, borderValue=0),
                     np.ones((5, 5), np.uint8)) > 0
    overlap = float(mask.mean())
    rb, cb = _bounds(h), _bounds(w)
    m = mask.astype(np.float64)
    n = _tile_sums(m, rb, cb)  # covered pixels per tile
    covered = n >= MIN_TILE_COVER * np.diff(rb)[:, None] * np.diff(cb)[None, :]
    if covered.sum() < MIN_TILES:
        return PixelCheck(int(covered.sum()), 0, 0, 0, 0.0, 1.0, 1.0, overlap)
    ref = stored_rgb.astype(np.float32)
    rms = _tile_rms(_fit_colour(warped, ref, mask), ref, m, n, rb, cb)
    row_tile = np.searchsorted(rb, np.arange(h), side="right") - 1
    col_tile = np.searchsorted(cb, np.arange(w), side="right") - 1
    good_tiles = covered & (rms <= np.median(rms[covered]))  # refit the colours on the better-agreeing half
    matched = _fit_colour(warped, ref, mask & good_tiles[row_tile][:, col_tile])
    rms = _tile_rms(matched, ref, m, n, rb, cb)
    g_q = cv2.GaussianBlur(cv2.cvtColor(matched.astype(np.uint8), cv2.COLOR_RGB2GRAY), (0, 0), 1.0)
    g_c = cv2.GaussianBlur(cv2.cvtColor(stored_rgb, cv2.COLOR_RGB2GRAY), (0, 0), 1.0)
    _, smap = structural_similarity(g_q, g_c, data_range=255, full=True, win_size=7)
    grey = cv2.cvtColor(stored_rgb, cv2.COLOR_RGB2GRAY).astype(np.float64)
    nn = np.maximum(n, 1)
    mean = _tile_sums(grey * m, rb, cb) / nn
    std = np.sqrt(np.maximum(_tile_sums(grey * grey * m, rb, cb) / nn - mean * mean, 0))
    tile_ssim = _tile_sums(smap * m, rb, cb) / nn
    textured = covered & (std >= TEXTURE_STD)
    agree = covered & (rms <= TILE_RMS) & (~textured | (tile_ssim >= TILE_SSIM))
    textured_agree = agree & textured
    return PixelCheck(int(covered.sum()), int(agree.sum()), int(textured.sum()), int(textured_agree.sum()),
                      float(tile_ssim[textured_agree].mean()) if textured_agree.any() else 0.0,
                      float(rms[agree].max()) if agree.any() else 1.0, float(rms[covered].max()), overlap,
                      *_region_shape(covered & ~agree))


def _region_shape(differs: np.ndarray) -> tuple[float, float]:
    """(share of the disagreeing tiles in the largest 8-connected region, how much of its bounding box it fills)."""
    from scipy import ndimage

    if not differs.any():
        return 1.0, 1.0
    labels, n = ndimage.label(differs, structure=np.ones((3, 3), int))
    sizes = np.bincount(labels.ravel())[1:]
    big = int(np.argmax(sizes)) + 1
    ys, xs = np.nonzero(labels == big)
    box = (ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1)
    return float(sizes[big - 1] / differs.sum()), float(sizes[big - 1] / box)

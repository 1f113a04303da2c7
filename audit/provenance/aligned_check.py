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


def _tiles(h: int, w: int):
    for i in range(GRID):
        for j in range(GRID):
            yield slice(i * h // GRID, (i + 1) * h // GRID), slice(j * w // GRID, (j + 1) * w // GRID)


def _index(h: int, w: int) -> dict[tuple[int, int], tuple[int, int]]:
    """(row start, column start) of each tile → its (row, column) on the grid."""
    return {(ys.start, xs.start): (k // GRID, k % GRID) for k, (ys, xs) in enumerate(_tiles(h, w))}


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


def _tile_rms(matched: np.ndarray, ref: np.ndarray, mask: np.ndarray, tiles) -> list[float]:
    out = []
    for ys, xs in tiles:
        m = mask[ys, xs]
        d = (matched[ys, xs][m] - ref[ys, xs][m]) / 255.0
        out.append(float(np.sqrt(np.mean(d * d))))
    return out


def check(query_rgb: np.ndarray, stored_rgb: np.ndarray, matrix: np.ndarray) -> PixelCheck:
    """Warp `query_rgb` by the 2×3 `matrix` onto `stored_rgb` (both uint8 RGB at the work size) and vote."""
    from skimage.metrics import structural_similarity

    from audit.memorisation.evidence import _cv2

    cv2 = _cv2()
    h, w = stored_rgb.shape[:2]
    warped = cv2.warpAffine(query_rgb, matrix, (w, h), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))
    ones = np.full(query_rgb.shape[:2], 255, np.uint8)
    mask = cv2.erode(cv2.warpAffine(ones, matrix, (w, h), flags=cv2.INTER_NEAREST, borderValue=0),
                     np.ones((5, 5), np.uint8)) > 0
    overlap = float(mask.mean())
    covered = [t for t in _tiles(h, w) if mask[t].mean() >= MIN_TILE_COVER]
    if len(covered) < MIN_TILES:
        return PixelCheck(len(covered), 0, 0, 0, 0.0, 1.0, 1.0, overlap)
    ref = stored_rgb.astype(np.float32)
    rms = _tile_rms(_fit_colour(warped, ref, mask), ref, mask, covered)
    good = np.zeros_like(mask)  # refit the colours on the better-agreeing half of the tiles
    for t, r in zip(covered, rms):
        if r <= float(np.median(rms)):
            good[t] = mask[t]
    matched = _fit_colour(warped, ref, good)
    rms = _tile_rms(matched, ref, mask, covered)
    g_q = cv2.GaussianBlur(cv2.cvtColor(matched.astype(np.uint8), cv2.COLOR_RGB2GRAY), (0, 0), 1.0)
    g_c = cv2.GaussianBlur(cv2.cvtColor(stored_rgb, cv2.COLOR_RGB2GRAY), (0, 0), 1.0)
    _, smap = structural_similarity(g_q, g_c, data_range=255, full=True, win_size=7)
    grey = cv2.cvtColor(stored_rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    agree = textured = textured_agree = 0
    agree_rms, agree_ssim = [], []
    differs, index = np.zeros((GRID, GRID), bool), _index(h, w)
    for (ys, xs), r in zip(covered, rms):
        m = mask[ys, xs]
        tex = float(grey[ys, xs][m].std()) >= TEXTURE_STD
        s = float(smap[ys, xs][m].mean())
        ok = r <= TILE_RMS and (not tex or s >= TILE_SSIM)
        textured += tex
        if ok:
            agree += 1
            agree_rms.append(r)
            if tex:
                textured_agree += 1
                agree_ssim.append(s)
        else:
            differs[index[(ys.start, xs.start)]] = True
    return PixelCheck(len(covered), agree, textured, textured_agree,
                      float(np.mean(agree_ssim)) if agree_ssim else 0.0,
                      max(agree_rms) if agree_rms else 1.0, max(rms), overlap, *_region_shape(differs))


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

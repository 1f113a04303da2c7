"""SSIM, defined once for every pixel comparison (memorisation evidence, low-resolution evidence, the
generator's memorisation measure).

The callers deliberately differ in what they compare, so the differences are parameters, not copies:
grey or colour (`colour`), the range of the pixel values (`data_range`: 255 for 0-255 images, 1.0 for [0, 1])
and where the SSIM map is averaged (`mask`: only over the overlap of an alignment, or over windows with
structure; without a mask skimage's own mean, which drops a border of half a window). The window is always
skimage's uniform 7x7 (no Gaussian weighting), the constants its defaults (K1 = 0.01, K2 = 0.03).
"""

from __future__ import annotations

import numpy as np

#: Side of the uniform SSIM window: the smallest image side that can be measured.
SSIM_WINDOW = 7


def ssim(a: np.ndarray, b: np.ndarray, *, data_range: float, colour: bool = False, mask: np.ndarray | None = None) -> float:
    """Mean SSIM of two images of the same shape (1 = identical).

    a, b: HxW grey or, with colour=True, HxWx3 (SSIM per channel, averaged). data_range: max - min of the pixel
    scale. mask: HxW bool; the SSIM map (every channel) is averaged where it is True (0.0 when it is empty)."""
    from skimage.metrics import structural_similarity

    channel_axis = 2 if colour else None
    if mask is None:
        return float(structural_similarity(a, b, data_range=data_range, win_size=SSIM_WINDOW, channel_axis=channel_axis))
    _, smap = structural_similarity(a, b, data_range=data_range, win_size=SSIM_WINDOW, channel_axis=channel_axis, full=True)
    return float(smap[mask].mean()) if mask.any() else 0.0

"""One SSIM for three callers: each keeps exactly the numbers it produced before they shared the function.

Values pinned from the pre-refactor code on real fixture images: memorisation evidence (grey, blurred, half
size, 0-255, averaged over the overlap), low-resolution evidence (grey float 0-255, averaged over windows with
structure) and the generator's memorisation measure (colour in [0, 1], skimage's border-cropped mean).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from audit.generate.measure import image_distances
from audit.memorisation import evidence as ev
from audit.memorisation import lowres
from audit.memorisation import transforms as tf

IMAGES = Path(__file__).parent / "data" / "images"
EXACT = 1e-12


def _img(name: str) -> Image.Image:
    return Image.open(IMAGES / name).convert("RGB")


@pytest.mark.parametrize("transform,want", [("jpeg_crop", 0.8920871266547893), ("rotate", 0.9488005413968272),
                                            ("colour", 0.9988463641320862)])
def test_aligned_ssim_of_evidence_is_unchanged(transform, want):
    src = _img("wp_Kleiber_by_Lukas_Baubkus.jpg")
    p = ev.measure(ev.prepare_query(tf.apply(transform, src, seed=3)), ev.prepare_candidate(src))
    assert p.ssim == pytest.approx(want, abs=EXACT)


def test_lowres_structure_ssim_is_unchanged():
    boat, astronaut = _img("oc_sailboat_illustration.png"), _img("astronaut.jpg")
    assert lowres.lowres_ssim(boat.resize((32, 32)), boat) == pytest.approx(0.6075626015663147, abs=EXACT)
    assert lowres.lowres_ssim(boat.resize((32, 32)), astronaut) == pytest.approx(-0.012458765879273415, abs=EXACT)
    assert lowres.lowres_ssim(astronaut.resize((48, 32)), astronaut) == pytest.approx(0.9930931925773621, abs=EXACT)


def test_generator_measure_distances_are_unchanged():
    boat, astronaut = _img("oc_sailboat_illustration.png"), _img("astronaut.jpg")
    x, y = np.asarray(boat.resize((32, 32))), np.asarray(astronaut.resize((32, 32)))
    z = np.asarray(tf.apply("colour", boat, seed=1).resize((32, 32)))
    assert image_distances(x, y) == pytest.approx((0.5961180925369263, -0.021118611097335815), abs=EXACT)
    assert image_distances(x, z) == pytest.approx((0.12556889653205872, 0.9801805019378662), abs=EXACT)

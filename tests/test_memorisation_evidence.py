"""Pixel evidence and verdicts on real fixture images (no index needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from audit.errors import InputError
from audit.memorisation import evidence as ev
from audit.memorisation import transforms as tf
from audit.memorisation.verdict import COPY, NOVEL, PairScores, Thresholds, decide

IMAGES = Path(__file__).parent / "data" / "images"


def _img(name: str) -> Image.Image:
    return Image.open(IMAGES / name).convert("RGB")


def _verdict(query: Image.Image, source: Image.Image):
    p = ev.measure(ev.prepare_query(query), ev.prepare_candidate(source))
    return p, decide(p, Thresholds())


@pytest.mark.parametrize("transform", ["exact", "jpeg_crop", "flip", "rotate", "pad", "colour"])
def test_transformed_copy_is_copy(transform):
    src = _img("wp_Kleiber_by_Lukas_Baubkus.jpg")
    p, v = _verdict(tf.apply(transform, src, seed=3), src)
    assert v.label == COPY, (p, v.reasons)
    assert v.reasons and all(s.name for s in v.scores)


def test_flip_is_found_through_the_mirror():
    src = _img("oc_sailboat_illustration.png")
    p, v = _verdict(tf.apply("flip", src, seed=0), src)
    assert v.label == COPY and p.mirrored


def test_unrelated_pair_is_not_copy():
    p, v = _verdict(_img("wp_Storm.jpg"), _img("wp_LadyBird.jpg"))
    assert v.label != COPY
    assert p.tiled_l2 > Thresholds().tiled_l2


def test_exact_copy_scores():
    src = _img("astronaut.jpg")
    p, v = _verdict(src.copy(), src)
    assert p.tiled_l2 < 1e-6 and p.phash_distance == 0
    assert v.score("tiled_l2").passed and "Carlini" in v.reasons[0]


def test_no_pixels_is_at_most_similar():
    v = decide(PairScores(clip_cosine=0.99, pixels_available=False), Thresholds())
    assert v.label == "similar" and "unavailable" in v.reasons[0]
    v2 = decide(PairScores(clip_cosine=0.2, pixels_available=False), Thresholds())
    assert v2.label == NOVEL


def test_thresholds_from_json(tmp_path):
    assert Thresholds.from_json('{"ssim": 0.8}').ssim == 0.8
    f = tmp_path / "t.json"
    f.write_text('{"min_inliers": 20}')
    assert Thresholds.from_json(str(f)).min_inliers == 20
    with pytest.raises(InputError, match="unknown threshold"):
        Thresholds.from_json('{"ssmi": 0.8}')
    with pytest.raises(InputError, match="not valid JSON"):
        Thresholds.from_json("{ssim: 0.8")
    with pytest.raises(InputError, match="must be a number"):
        Thresholds.from_json('{"ssim": "high"}')


def test_trim_border_removes_padding_only():
    src = _img("wp_LadyBird.jpg")
    assert ev.trim_border(src) is None  # a photo has no plain border
    padded = tf.apply("pad", src, seed=1)
    trimmed = ev.trim_border(padded)
    assert trimmed is not None and abs(trimmed.width - src.width) <= 2 and abs(trimmed.height - src.height) <= 2


def test_low_res_centre_crop_generation_is_copy():
    """A generator trained on resize + centre-crop returns a small square of a wide training photo."""
    wide = Image.open(Path(__file__).parent / "data" / "images" / "wp_Fossa_by_Jasper_Roks.jpg").convert("RGB")
    assert wide.width > wide.height * 1.2
    side = wide.height
    left = (wide.width - side) // 2
    generated = wide.crop((left, 0, left + side, side)).resize((32, 32), Image.Resampling.BILINEAR)
    cand = ev.prepare_candidate(wide)
    assert cand.crop_grid is not None
    scores = ev.measure(ev.prepare_query(generated), cand)
    assert decide(scores, Thresholds()).label == COPY
    # Without the centre-crop comparison the same pair would only be a squashed, misaligned match.
    squashed = ev.tiled_l2(ev.prepare_query(generated).direct.grid, cand.features.grid)
    assert squashed > scores.tiled_l2

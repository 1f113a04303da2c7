"""The memorisation measure: its distances, and its refusal to measure a model trained without duplication."""

from __future__ import annotations

import numpy as np
import pytest
from test_generate_fixtures import draw, model_dir, shapes_dataset  # noqa: F401  (fixtures)

from audit.errors import InputError
from audit.generate.measure import image_distances, measure_memorisation


def test_image_distances_rank_copies_above_other_images():
    a = np.asarray(draw("circle", "red", "white", size=32))
    shifted = np.asarray(draw("circle", "red", "white", size=32, offset=2))
    other = np.asarray(draw("square", "blue", "black", size=32))
    rms0, ssim0 = image_distances(a, a)
    rms1, ssim1 = image_distances(a, shifted)
    rms2, ssim2 = image_distances(a, other)
    assert rms0 == 0 and ssim0 == pytest.approx(1.0)
    assert rms0 < rms1 < rms2 and ssim0 > ssim1 > ssim2


def test_measure_needs_a_model_trained_with_duplication(model_dir, shapes_dataset):
    with pytest.raises(InputError, match="without --duplicate"):
        measure_memorisation(model_dir, [str(shapes_dataset)])

"""Perceptual hashes stay bit-identical: manifests, index hashes.parquet, tombstones, opt-out registries and
provenance stores hold them, so a refactor that changed one bit would silently stop matching stored data.

The values were computed from the shipped data/reference images with the pre-refactor code (imagehash 4.3.2).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import ImageOps

from audit.images import load_rgb

REF = Path(__file__).resolve().parents[1] / "data" / "reference"
#: image -> (pHash hex, dHash hex, pHash of the mirrored image, dHash of the mirrored image)
PINNED = {
    "images/oc-animals-bugs-moschito-stecchito-archi-01.jpg":
        ("a339d4ce8d25336c", "08150f4b2b280404", "b66c819bd870663b", "0a560f2d2bcb1818"),
    "images/oc-buildings-homes-home9.jpg": ("eec195a6991b62e1", "8e0f0f2b2f2f2f37", "bb96c0e3cc4e23b4", "0e0f0f2b0b0b0b13"),
    "images/oc-buttons-rss-button-roman-bertle-01.jpg":
        ("ffd081bd803bc16a", "80544929192b5541", "aa85d4e8d52a943f", "80d16d6b672b5545"),
    "images/oc-science-evolution-steps-marcelo-01.jpg":
        ("fad0861ff02aa569", "21090b393a6b6516", "ae85d34aa17df038", "426c2f63a3295917"),
}


@pytest.mark.parametrize("rel", sorted(PINNED))
def test_hashes_of_shipped_images_are_pinned(rel):
    from audit.dataset.store import phash_hex
    from audit.index.hashes import image_hashes
    from audit.memorisation.evidence import phash_int
    from audit.provenance.fingerprint import fingerprint

    ph, dh, ph_m, dh_m = PINNED[rel]
    img = load_rgb(REF / rel)
    assert phash_hex(img) == ph  # manifest `phash` column, tombstones, opt-out registry
    assert image_hashes(img) == {"phash": int(ph, 16), "dhash": int(dh, 16)}  # index hashes.parquet
    assert image_hashes(ImageOps.mirror(img)) == {"phash": int(ph_m, 16), "dhash": int(dh_m, 16)}
    assert phash_int(img) == int(ph, 16)  # memorisation evidence
    fp = fingerprint(np.asarray(img))  # provenance store
    assert (fp.phash, fp.dhash) == (int(ph, 16), int(dh, 16))

"""Perceptual hashes stay bit-identical: manifests, index hashes.parquet, tombstones, opt-out registries and
provenance stores hold them, so a refactor that changed one bit would silently stop matching stored data.

The values were computed from the shipped data/reference images with the pre-refactor code (imagehash 4.3.2).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import ImageOps

from audit import perceptual as P
from audit.images import load_rgb
from audit.provenance.fingerprint import Fingerprint, fingerprint

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
    ph, dh, ph_m, dh_m = PINNED[rel]
    img = load_rgb(REF / rel)
    direct, mirrored = P.encode_with_mirror(img)
    assert direct == P.encode(img) == P.PerceptualHash(int(ph, 16), int(dh, 16))  # index hashes.parquet
    assert mirrored == P.encode(ImageOps.mirror(img)) == P.PerceptualHash(int(ph_m, 16), int(dh_m, 16))
    assert P.phash_hex(img) == ph  # manifest `phash` column, tombstones, opt-out registry
    assert P.phash(img) == int(ph, 16)  # memorisation evidence
    assert fingerprint(np.asarray(img)) == Fingerprint(int(ph, 16), int(dh, 16))  # provenance store


def test_hex_and_int64_forms_round_trip():
    for value in (0, 1, 0x7FFF_FFFF_FFFF_FFFF, 0x8000_0000_0000_0000, 0xFFFF_FFFF_FFFF_FFFF, 0xA339_D4CE_8D25_336C):
        text = P.to_hex(value)
        assert len(text) == 16 and P.from_hex(text) == value and P.from_hex(text.upper()) == value
        signed = P.to_int64(value)
        assert -(2**63) <= signed < 2**63 and P.from_int64(signed) == value
    assert P.to_int64(0xFFFF_FFFF_FFFF_FFFF) == -1 and P.to_int64(5) == 5
    with pytest.raises(ValueError):
        P.from_hex("not a hash")


def test_distance_counts_differing_bits_of_64():
    assert P.distance(0b1011, 0b0001) == 2 and P.distance(-1, 0) == 64 and P.distance(2**64 - 1, 0) == 64
    a, b = (int(v[0], 16) for v in list(PINNED.values())[:2])
    assert P.distance(a, b) == P.distance(b, a) == bin(a ^ b).count("1") > 0

"""Crop-tolerant recovery: a cropped copy loses both the watermark grid and the global fingerprint; the store's
ORB keypoints + RANSAC + aligned pixel check find the original signed manifest, and look-alikes are refused."""

from __future__ import annotations

import json
import shutil
import sqlite3

import pytest
from PIL import Image

from audit.cli import main
from audit.config import REFERENCE_DIR
from audit.provenance import aligned_check as ac
from audit.provenance import local_features as lf
from audit.provenance.ca import init_ca
from audit.provenance.recover import recover_image
from audit.provenance.stamp import stamp_image
from audit.provenance.store import SCHEMA_VERSION, ManifestStore

IMAGES = REFERENCE_DIR / "images"
PHOTO = IMAGES / "people-astronaut-eileen-collins.jpg"
CARD = IMAGES / "oc-recreation-games-cards-simple-simple-h-9.jpg"
CARD_VARIANT = IMAGES / "oc-recreation-games-cards-ornamental-ornamental-h-9.jpg"  # same card, other artwork


def _prep(path, short=320):
    img = Image.open(path).convert("RGB")
    s = short / min(img.size)
    return img.resize((round(img.width * s), round(img.height * s)), Image.Resampling.LANCZOS)


def _crop(img, f, dx=0):
    cw, ch = round(img.width * f), round(img.height * f)
    x, y = (img.width - cw) // 2 + dx, (img.height - ch) // 2
    return img.crop((x, y, x + cw, y + ch))


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    d = tmp_path_factory.mktemp("crop")
    init_ca(d / "ca")
    ids = {}
    for name, path in (("photo", PHOTO), ("card", CARD)):
        _prep(path).save(d / f"{name}.png")
        ids[name] = stamp_image(d / f"{name}.png", d / f"{name}-signed.png", ca=d / "ca", prompt=name, durable=True,
                                store=d / "store").wm_id
    return d, ids


@pytest.mark.parametrize("name,frac,dx,fmt", [("photo", 0.6, 0, "PNG"), ("photo", 0.8, 7, "JPEG"),
                                              ("card", 0.6, 3, "JPEG")])
def test_cropped_copy_recovers_original_manifest(store, tmp_path, name, frac, dx, fmt):
    d, ids = store
    q = tmp_path / f"q.{fmt.lower()}"
    _crop(Image.open(d / f"{name}-signed.png").convert("RGB"), frac, dx).save(q, fmt, **({"quality": 80} if fmt == "JPEG" else {}))
    r = recover_image(q, [d / "store"], ca=d / "ca")
    assert r.recovered and r.method == "local-features" and r.wm_id == ids[name], r.reasons
    assert r.state == "Trusted" and r.manifest["history"][0]["actions"][0]["parameters"]["prompt"] == name
    assert r.inliers >= lf.MIN_INLIERS and 0 < r.inlier_ratio <= 1 and r.aligned_ssim >= ac.MIN_SSIM
    assert abs(r.overlap - frac * frac) < 0.08  # the crop covers frac² of the stored image
    assert any("RANSAC inliers" in x and "covers" in x for x in r.reasons)


def test_lookalike_and_unrelated_images_are_refused(store, tmp_path):
    """The ornamental variant of the stamped card shares its layout (hundreds of ORB inliers) but not its
    pixels: the aligned pixel check must refuse it, and say why."""
    d, _ = store
    for path in (CARD_VARIANT, IMAGES / "people-grace-hopper.jpg"):
        _crop(_prep(path), 0.8).save(tmp_path / "q.png")
        r = recover_image(tmp_path / "q.png", [d / "store"], ca=d / "ca")
        assert not r.recovered and r.wm_id is None, (path.name, r.reasons)
    assert r.inliers is None or r.inliers < 50
    _crop(_prep(CARD_VARIANT), 0.8).save(tmp_path / "v.png")
    r = recover_image(tmp_path / "v.png", [d / "store"], ca=d / "ca")
    assert r.inliers is not None and r.inliers >= lf.MIN_INLIERS  # geometry alone would have accepted it
    assert any("best local-feature candidate" in x and "tiles agree" in x and "scattered" in x for x in r.reasons)


def test_schema1_store_is_migrated_says_features_missing_then_backfills(store, tmp_path, capsys):
    d, ids = store
    old = tmp_path / "old-store"
    shutil.copytree(d / "store", old)
    db = sqlite3.connect(old / "store.sqlite")  # what a store written before schema 2 looks like
    db.executescript("DROP TABLE local_features; PRAGMA user_version = 1;")
    db.close()
    _crop(Image.open(d / "photo-signed.png").convert("RGB"), 0.6).save(tmp_path / "q.png")
    r = recover_image(tmp_path / "q.png", [old], ca=d / "ca")
    assert not r.recovered and any("2 stored image(s) have no local features" in x for x in r.reasons)
    with ManifestStore(old, create=False) as s:
        assert sqlite3.connect(old / "store.sqlite").execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert len(s) == 2 and sorted(s.missing_local_features()) == sorted(ids.values())
    assert main(["provenance", "store-features", "--store", str(old)]) in (0, None)
    assert "computed for 2 entries" in capsys.readouterr().out
    assert main(["provenance", "recover", str(tmp_path / "q.png"), "--store", str(old), "--ca", str(d / "ca"),
                 "--json"]) in (0, None)
    out = json.loads(capsys.readouterr().out)
    assert out["method"] == "local-features" and out["wm_id"] == ids["photo"] and out["state"] == "Trusted"

"""Durable recovery of mirrored and partly occluded copies, and batch stamping that skips what it cannot mark.

Real components throughout: real c2pa signatures with the test CA, real reference images upscaled, the real
watermark, fingerprint and ORB/RANSAC routes."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from audit.cli import main
from audit.config import REFERENCE_DIR
from audit.provenance import local_features as lf
from audit.provenance import watermark as wm
from audit.provenance.ca import init_ca
from audit.provenance.recover import recover_image
from audit.provenance.stamp import stamp_image
from audit.provenance.store import ManifestStore

IMAGES = REFERENCE_DIR / "images"
PHOTO = IMAGES / "people-astronaut-eileen-collins.jpg"
UNRELATED = IMAGES / "people-grace-hopper.jpg"


def _prep(path, short=320):
    img = Image.open(path).convert("RGB")
    s = short / min(img.size)
    return img.resize((round(img.width * s), round(img.height * s)), Image.Resampling.LANCZOS)


def _mirror(img):
    return img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)


def _save(img, path, fmt="PNG", **kw):
    img.save(path, fmt, **kw)  # a fresh encode: no C2PA manifest
    return path


@pytest.fixture(scope="module")
def stamped(tmp_path_factory):
    d = tmp_path_factory.mktemp("flip")
    init_ca(d / "ca")
    _prep(PHOTO).save(d / "src.png")
    with pytest.MonkeyPatch.context() as mp:  # a fixed id: how well a mark survives depends on its bits
        mp.setattr(wm, "new_id", lambda: "a1b2c3d4e5")
        res = stamp_image(d / "src.png", d / "signed.png", ca=d / "ca", prompt="an astronaut", seed=7, durable=True,
                          store=d / "store")
    return d, res


@pytest.fixture(scope="module")
def other_id_store(stamped, tmp_path_factory):
    """The same signed copy under another id: the mark then names nothing, so the later routes must decide."""
    d, res = stamped
    out = tmp_path_factory.mktemp("other") / "store"
    with ManifestStore(d / "store") as src, ManifestStore(out) as dst:
        e = src.get(res.wm_id)
        features = dict(src.local_features())[res.wm_id]
        dst.add("ffffffffff", e.signed_path.read_bytes(), {}, mime=e.mime, width=e.width, height=e.height,
                fp=e.fingerprint, readback_errors=e.readback_errors, psnr=e.psnr, title=e.title, local=features)
    return out


def _signed(d):
    return Image.open(d / "signed.png").convert("RGB")


def test_flip_recovered_by_watermark_and_reported_mirrored(stamped, capsys):
    d, res = stamped
    q = _save(_mirror(_signed(d)), d / "mirror.jpg", "JPEG", quality=90)
    r = recover_image(q, [d / "store"], ca=d / "ca")
    assert r.recovered and r.method == "watermark" and r.wm_id == res.wm_id and r.state == "Trusted"
    assert r.mirrored and r.bit_errors <= wm.MAX_BIT_ERRORS
    assert any("mirrored copy" in x for x in r.reasons)
    assert main(["provenance", "recover", str(q), "--store", str(d / "store"), "--ca", str(d / "ca")]) in (0, None)
    assert "recovered by watermark" in (out := capsys.readouterr().out) and "mirrored copy" in out
    # the image as stamped is not reported as mirrored
    r = recover_image(_save(_signed(d), d / "same.png"), [d / "store"], ca=d / "ca")
    assert r.recovered and r.method == "watermark" and not r.mirrored


def test_flip_recovered_by_fingerprint_and_reported_mirrored(stamped, other_id_store, capsys):
    d, _ = stamped
    q = _save(_mirror(_signed(d)), d / "mirror-fp.jpg", "JPEG", quality=70)
    r = recover_image(q, [other_id_store], ca=d / "ca")
    assert r.recovered and r.method == "fingerprint" and r.wm_id == "ffffffffff" and r.mirrored, r.reasons
    assert r.fingerprint_distance <= 20 and r.pixel_similarity >= 0.98 and r.state == "Trusted"
    # the mark was read (from the mirror) but names an id this store does not hold: said, not hidden
    assert any("a1b2c3d4e5" in x and "not in" in x for x in r.reasons)
    assert main(["provenance", "recover", str(q), "--store", str(other_id_store), "--ca", str(d / "ca"),
                 "--json"]) in (0, None)
    out = json.loads(capsys.readouterr().out)
    assert out["mirrored"] is True and out["method"] == "fingerprint"


def _crop(img, f, dx=0):
    cw, ch = round(img.width * f), round(img.height * f)
    x, y = (img.width - cw) // 2 + dx, (img.height - ch) // 2
    return img.crop((x, y, x + cw, y + ch))


def test_flip_plus_crop_recovered_by_local_features_and_reported_mirrored(stamped):
    d, res = stamped
    q = _save(_crop(_mirror(_signed(d)), 0.75, 5), d / "mirror-crop.jpg", "JPEG", quality=85)
    r = recover_image(q, [d / "store"], ca=d / "ca")
    assert r.recovered and r.method == "local-features" and r.wm_id == res.wm_id and r.mirrored, r.reasons
    assert r.state == "Trusted" and r.inliers >= lf.MIN_INLIERS
    # the mark did not decide, and the answer says how damaged it was
    assert r.bit_errors is not None and r.bit_errors > wm.MAX_BIT_ERRORS
    assert any(x.startswith("watermark: best read has") for x in r.reasons)
    assert any(x.startswith("decided by local features") for x in r.reasons)


def _rectangle(img, share, colour=(30, 30, 30), centre=(0.55, 0.45)):
    a = np.asarray(img).copy()
    h, w = a.shape[:2]
    rw, rh = round(w * (share * 1.5) ** 0.5), round(h * (share / 1.5) ** 0.5)
    x, y = round(w * centre[0] - rw / 2), round(h * centre[1] - rh / 2)
    a[y:y + rh, x:x + rw] = colour
    return Image.fromarray(a)


def test_opaque_rectangle_recovered_by_local_features(stamped, other_id_store):
    """A 12 % opaque box (sticker, caption, redaction): the unknown mark cannot decide, the fingerprint's pixel
    correlation drops below its threshold, and the local-feature route finds the stored image because its
    untouched tiles agree while the covered ones are counted as occluded."""
    d, _ = stamped
    q = _save(_rectangle(_signed(d), 0.12), d / "sticker.jpg", "JPEG", quality=85)
    r = recover_image(q, [other_id_store], ca=d / "ca")
    assert r.recovered and r.method == "local-features" and r.wm_id == "ffffffffff", r.reasons
    assert not r.mirrored and r.state == "Trusted"
    assert 0.08 <= r.occluded <= 0.4 and r.overlap > 0.9
    assert any("differs (occluded or edited)" in x for x in r.reasons)


def test_unrelated_image_and_its_mirror_are_not_recovered(stamped):
    d, _ = stamped
    for img in (_prep(UNRELATED), _mirror(_prep(UNRELATED))):
        r = recover_image(_save(img, d / "unrelated.png"), [d / "store"], ca=d / "ca")
        assert not r.recovered and r.wm_id is None and not r.mirrored, r.reasons


def _folder(tmp_path):
    imgs = tmp_path / "in"
    imgs.mkdir()
    _prep(PHOTO, 300).save(imgs / "a.png")
    _prep(UNRELATED, 300).save(imgs / "b.jpg", quality=95)
    _prep(IMAGES / "oc-recreation-games-cards-simple-simple-h-9.jpg", 100).save(imgs / "small.png")
    return imgs


def test_batch_durable_skips_small_image_and_lists_it(tmp_path, capsys):
    init_ca(tmp_path / "ca")
    imgs = _folder(tmp_path)
    Image.fromarray(np.full((300, 300, 3), 200, np.uint8)).save(imgs / "flat.png")
    code = main(["provenance", "stamp", str(imgs), "--out", str(tmp_path / "out"), "--durable",
                 "--ca", str(tmp_path / "ca"), "--store", str(tmp_path / "store")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert sorted(p.name for p in (tmp_path / "out").iterdir() if p.name != "meta.json") == ["a.png", "b.jpg"]
    assert "stamped 2 image(s)" in out and "skipped 2 image(s)" in out
    lines = out.splitlines()
    assert any("small.png" in x and "too small" in x and "256" in x for x in lines)
    assert any("flat.png" in x and "flat" in x for x in lines)
    meta = json.loads((tmp_path / "out" / "meta.json").read_text())
    assert {s["source"].rsplit("/", 1)[-1] for s in meta["skipped"]} == {"small.png", "flat.png"}
    with ManifestStore(tmp_path / "store", create=False) as s:
        assert len(s) == 2


def test_upscale_small_records_c2pa_resized(tmp_path, capsys):
    import c2pa

    ca = init_ca(tmp_path / "ca")
    imgs = _folder(tmp_path)
    code = main(["provenance", "stamp", str(imgs), "--out", str(tmp_path / "out"), "--durable", "--upscale-small",
                 "--ca", str(tmp_path / "ca"), "--store", str(tmp_path / "store")])
    out = capsys.readouterr().out
    assert code == 0 and "stamped 3 image(s)" in out and "skipped" not in out, out
    assert "upscaled from 100x" in out
    signed = (tmp_path / "out" / "small.png").read_bytes()
    assert min(Image.open(io.BytesIO(signed)).size) == wm.MIN_SIDE
    ctx = c2pa.Context.from_dict({"verify": {"remote_manifest_fetch": False},
                                  "trust": {"user_anchors": ca.root_pem.decode()}})
    with c2pa.Reader("image/png", io.BytesIO(signed), context=ctx) as reader:
        store = json.loads(reader.json())
    assert store["validation_state"] == "Trusted"
    active = store["manifests"][store["active_manifest"]]
    actions = next(a["data"]["actions"] for a in active["assertions"] if a["label"].startswith("c2pa.actions"))
    assert [a["action"] for a in actions] == ["c2pa.created", "c2pa.resized"]
    size, to = actions[1]["parameters"]["from"], actions[1]["parameters"]["to"]
    assert size["width"] == 100 and to["width"] == wm.MIN_SIDE and to["height"] == round(size["height"] * 2.56)
    # and the upscaled stamp is durable: a re-encoded copy is recovered
    q = _save(Image.open(io.BytesIO(signed)).convert("RGB"), tmp_path / "q.jpg", "JPEG", quality=90)
    r = recover_image(q, [tmp_path / "store"], ca=tmp_path / "ca")
    assert r.recovered and r.state == "Trusted" and r.manifest["history"][0]["actions"][1]["action"] == "c2pa.resized"


def test_batched_watermark_decoder_reads_what_invisible_watermark_reads(stamped):
    """wm.decode_bits replaces the library's per-block Python loop; on real images (marked, JPEG'd, mirrored,
    unmarked) it must read the same bits."""
    from imwatermark import WatermarkDecoder

    d, _ = stamped
    signed = np.asarray(_signed(d))
    buf = io.BytesIO()
    Image.fromarray(signed).save(buf, "JPEG", quality=60)
    jpg = np.asarray(Image.open(buf).convert("RGB"))
    for rgb in (signed, jpg, np.ascontiguousarray(jpg[:, ::-1]), np.asarray(_prep(UNRELATED, 300))):
        lib = WatermarkDecoder("bits", wm.NBITS).decode(np.ascontiguousarray(rgb[:, :, ::-1]), wm.METHOD,
                                                        scales=list(wm.SCALES))
        assert wm.decode_bits(rgb) == tuple(int(b) for b in lib)
    assert wm.bit_errors(wm.decode_bits(signed), "a1b2c3d4e5") == 0

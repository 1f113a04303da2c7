"""C2PA training-mining reservations read from real signed images (the project's own test CA, real c2pa).

The JSON parser is covered in test_optout_signals.py; here the assertion travels inside a JPEG/PNG
signed by `audit.provenance`, and `image_signals` / `decide` / `audit optout filter --scan-images`
must find it in the file.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from audit.cli import main
from audit.optout import embedded
from audit.optout.embedded import image_signals
from audit.optout.site import decide, offline_signals
from audit.provenance import ManifestOptions, Stamper, init_ca
from audit.records import read_manifest, write_manifest


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    return init_ca(tmp_path_factory.mktemp("optout-c2pa") / "ca")


def _signed(ca, tmp_path, name: str, use: str, label: str = "cawg", seed: int = 0, src=None):
    """Sign a real image with training-mining `use`; returns the signed file."""
    if src is None:
        src = tmp_path / f"src-{name}"
        rng = np.random.default_rng(seed)
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(src)
    dst = tmp_path / name
    with Stamper(ca, options=ManifestOptions(training_mining=use, mining_label=label)) as s:
        s.stamp(src, dst)
    return dst


@pytest.mark.parametrize("name,label", [("na.jpg", "cawg"), ("na.png", "c2pa")])
def test_not_allowed_is_found_in_the_file_and_allowed_is_not_flagged(ca, tmp_path, name, label):
    denied = _signed(ca, tmp_path, name, "notAllowed", label)
    sigs = image_signals(denied)
    by_scope = {s.scope: s for s in sigs if s.kind == "c2pa"}
    assert {"ai-training", "genai-training", "all-tdm"} <= set(by_scope)
    assert by_scope["ai-training"].restricts and f"{label}.training-mining" in by_scope["ai-training"].directive
    assert "notAllowed" in by_scope["ai-training"].evidence and by_scope["ai-training"].location == str(denied)
    v = decide(offline_signals("https://artist.example/" + name, image=denied))
    assert v.opted_out and v.scope == "all-tdm" and "c2pa" in v.reason  # data_mining=notAllowed is the strictest

    allowed = _signed(ca, tmp_path, "ok-" + name, "allowed", label, seed=1)
    ok = image_signals(allowed)
    assert len(ok) == 4 and not any(s.restricts for s in ok)  # read, and not a reservation
    assert not decide(ok).opted_out


def test_resigned_copy_keeps_the_artists_reservation(ca, tmp_path):
    """A platform re-signs the artist's image saying 'allowed': the artist's manifest is now an
    ingredient, and its notAllowed still counts (strictest wins, conflict named)."""
    original = _signed(ca, tmp_path, "orig.png", "notAllowed")
    resigned = _signed(ca, tmp_path, "resigned.png", "allowed", src=original)
    sigs = image_signals(resigned)
    active = [s for s in sigs if not s.directive.startswith("ingredient")]
    inherited = [s for s in sigs if s.directive.startswith("ingredient")]
    assert active and not any(s.restricts for s in active)
    assert inherited and all(s.restricts for s in inherited)
    v = decide(sigs)
    assert v.opted_out and "ingredient" in v.reason and "conflicting signals" in v.reason


def test_large_file_wrong_extension_and_reencoded_copy(ca, tmp_path, monkeypatch):
    denied = _signed(ca, tmp_path, "big.png", "notAllowed")
    # only a prefix is scanned for XMP; C2PA must still see the whole file (c2pa cannot parse a truncated asset)
    monkeypatch.setattr(embedded, "MAX_SCAN_BYTES", 64)
    assert any(s.restricts for s in image_signals(denied))
    monkeypatch.undo()
    renamed = tmp_path / "really-a-png.jpg"
    renamed.write_bytes(denied.read_bytes())
    assert any(s.restricts for s in image_signals(renamed))
    assert any(s.restricts for s in image_signals(data=denied.read_bytes(), mime="image/jpeg"))  # wrong type given
    # re-encoding strips the manifest: nothing to read (near-duplicate matching covers that case)
    Image.open(denied).save(tmp_path / "reencoded.png")
    assert image_signals(tmp_path / "reencoded.png") == ()


def test_filter_scan_images_excludes_signed_not_allowed(ca, tmp_path):
    ds = tmp_path / "ds"
    (ds / "images").mkdir(parents=True)
    files = {"deny": _signed(ca, tmp_path, "deny.jpg", "notAllowed", seed=3),
             "allow": _signed(ca, tmp_path, "allow.jpg", "allowed", seed=4)}
    rows = []
    for key, f in files.items():
        (ds / "images" / f.name).write_bytes(f.read_bytes())
        rows.append({"key": key, "path": f"images/{f.name}", "url": f"https://x.example/{f.name}", "caption": key,
                     "width": 40, "height": 40, "sha256": "0" * 64, "phash": "0123456789abcdef", "author": "A",
                     "license": "cc-by", "source": "test"})
    write_manifest(pd.DataFrame(rows), ds)
    db = tmp_path / "r.db"
    assert main(["optout", "add", "domain", "unrelated.example", "--registry", str(db)]) == 0
    out = tmp_path / "m.parquet"
    assert main(["optout", "check", str(ds), "--registry", str(db), "--out", str(out), "--scan-images"]) == 0
    m = pd.read_parquet(out)
    assert set(m["key"]) == {"deny"} and set(m["rule"]) == {"signal"}
    assert m["reason"].str.contains("training-mining").all()
    clean = tmp_path / "clean"
    assert main(["optout", "filter", str(ds), "--registry", str(db), "--out", str(clean), "--scan-images"]) == 0
    assert list(read_manifest(clean)["key"]) == ["allow"]


def test_xmp_and_c2pa_disagree_strictest_wins_and_truncated_manifest_is_reported(ca, tmp_path):
    """A photo with XMP DMI-PROHIBITED-AIMLTRAINING, later signed with training-mining 'allowed'."""
    from pathlib import Path

    src = Path(__file__).parent / "data" / "optout" / "xmp_dmi_prohibited.jpg"
    both = _signed(ca, tmp_path, "both.jpg", "allowed", src=src)
    sigs = image_signals(both)
    assert {s.kind for s in sigs} == {"xmp", "c2pa"}
    v = decide(sigs)
    assert v.opted_out and v.binding[0].kind == "xmp" and "conflicting signals" in v.reason and "allowed" in v.reason
    # a truncated download: c2pa cannot parse it; reported as unreadable (not a reservation), no exception
    data = both.read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data[: len(data) // 2])
    got = image_signals(cut)
    assert any(s.kind == "c2pa" and s.directive == "unreadable C2PA manifest" and not s.restricts for s in got)

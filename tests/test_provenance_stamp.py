"""Stamping and verifying with real c2pa signing and a real c2pa Reader."""

from __future__ import annotations

import datetime as dt
import io
import struct
import time
import zlib

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from audit.errors import ArtefactError, ImageError, InputError, ProvenanceError
from audit.provenance import ImageFacts, ManifestOptions, Stamper, init_ca, stamp_image, stamp_images, verify_image
from audit.provenance.assertions import TRAINED_ALGORITHMIC_MEDIA, GeneratorInfo
from audit.provenance.verify import INVALID, NO_MANIFEST, TRUSTED, VALID, verify_bytes


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    return init_ca(tmp_path_factory.mktemp("prov") / "ca")


def _image(path, seed=0, size=48, fmt=None, **save):
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(path, fmt, **save)
    return path


def _png_chunks(data: bytes):
    pos = 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        yield pos, data[pos + 4:pos + 8], length
        pos += 12 + length


def tamper_one_pixel(data: bytes) -> bytes:
    """Change one pixel of a stored (compress_level=0) PNG in place: same length, valid CRCs and zlib.

    The file still decodes, the manifest chunk is untouched; only the pixel data differs.
    """
    chunks = [(pos, length) for pos, typ, length in _png_chunks(data) if typ == b"IDAT"]
    pixels = np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).copy()
    pixels[0, 0, 0] ^= 0xFF
    raw = b"".join(b"\x00" + row.tobytes() for row in pixels)  # filter type 0 on every row
    packed = zlib.compress(raw, 0)
    assert len(packed) == sum(n for _, n in chunks)
    out = bytearray(data)
    offset = 0
    for pos, n in chunks:
        out[pos + 8:pos + 8 + n] = packed[offset:offset + n]
        out[pos + 8 + n:pos + 12 + n] = struct.pack(">I", zlib.crc32(out[pos + 4:pos + 8 + n]) & 0xFFFFFFFF)
        offset += n
    return bytes(out)


def test_stamped_image_is_trusted_with_own_ca(tmp_path, ca):
    src = _image(tmp_path / "gen.png")
    gen = GeneratorInfo("tiny-diffusion", weights_sha256="ab" * 32, training_manifest_sha256="cd" * 32,
                        optout_summary={"checked": 10, "opted_out": 1})
    with Stamper(ca, options=ManifestOptions(generator=gen, training_mining="constrained")) as st:
        res = st.stamp(src, tmp_path / "out" / "gen.png",
                       ImageFacts(prompt="a red cat", seed=7, verdict={"verdict": "novel", "score": 0.2}))
    assert not res.had_manifest and res.verdict == "novel"
    assert src.read_bytes() != res.output.read_bytes()
    r = verify_image(res.output, ca=ca.directory)
    assert r.state == TRUSTED and r.ok and r.codes == ()
    created = r.history[0]["actions"][0]
    assert created["action"] == "c2pa.created"
    assert created["digitalSourceType"] == TRAINED_ALGORITHMIC_MEDIA
    assert created["parameters"] == {"prompt": "a red cat", "seed": 7}
    assert created["softwareAgent"]["name"] == "tiny-diffusion"
    assert r.audit["generator"]["weights_sha256"] == "ab" * 32
    assert r.audit["training_manifest_sha256"] == "cd" * 32
    assert r.audit["memorisation"]["verdict"] == "novel"
    assert r.audit["optout"] == {"checked": 10, "opted_out": 1}
    assert all(e["use"] == "constrained" for e in r.training_mining["entries"].values())


def test_tampered_pixel_turns_invalid(tmp_path, ca):
    src = _image(tmp_path / "t.png", compress_level=0)
    out = stamp_image(src, tmp_path / "signed.png", ca=ca).output
    signed = out.read_bytes()
    assert verify_bytes(signed, "x.png", ca=ca.directory).state == TRUSTED
    tampered = tamper_one_pixel(signed)
    before = np.asarray(Image.open(io.BytesIO(signed)))
    after = np.asarray(Image.open(io.BytesIO(tampered)))  # still a decodable image, one pixel differs
    assert int((before != after).any(axis=2).sum()) == 1
    r = verify_bytes(tampered, "x.png", ca=ca.directory)
    assert r.state == INVALID and not r.ok
    assert "assertion.dataHash.mismatch" in r.codes
    assert any("changed after signing" in reason for reason in r.reasons)
    # re-stamping the tampered file signs the new state but flags the broken parent
    (tmp_path / "tampered.png").write_bytes(tampered)
    again = verify_image(stamp_image(tmp_path / "tampered.png", tmp_path / "again.png", ca=ca).output, ca=ca.directory)
    assert again.state == TRUSTED and again.ingredients[0]["validation_state"] == INVALID
    assert any("already invalid" in reason for reason in again.reasons)


def test_reencoded_image_has_no_manifest(tmp_path, ca):
    out = stamp_image(_image(tmp_path / "r.png"), tmp_path / "s.png", ca=ca).output
    Image.open(out).save(tmp_path / "re.png")
    Image.open(out).convert("RGB").save(tmp_path / "re.jpg", quality=95)
    for p in (tmp_path / "re.png", tmp_path / "re.jpg"):
        r = verify_image(p, ca=ca.directory)
        assert r.state == NO_MANIFEST and "stripped" in r.reasons[0]


def test_unknown_signer_is_valid_not_trusted(tmp_path, ca):
    other = init_ca(tmp_path / "other", name="someone-else")
    out = stamp_image(_image(tmp_path / "u.jpg", fmt="JPEG"), tmp_path / "u_signed.jpg", ca=other).output
    r = verify_image(out, trust=ca.directory / "root.pem")
    assert r.state == VALID and r.ok
    assert "signingCredential.untrusted" in r.codes and "not on the trust list" in r.reasons[0]
    assert verify_image(out, ca=other.directory).state == TRUSTED


def test_restamp_keeps_first_manifest_as_parent(tmp_path, ca):
    first = stamp_image(_image(tmp_path / "a.webp", fmt="WEBP", lossless=True), tmp_path / "a1.webp", ca=ca,
                        prompt="first prompt", seed=1).output
    second = stamp_image(first, tmp_path / "a2.webp", ca=ca, verdict={"verdict": "copy"})
    assert second.had_manifest
    r = verify_image(second.output, ca=ca.directory)
    assert r.state == TRUSTED
    assert [h["actions"][0]["action"] for h in r.history] == ["c2pa.opened", "c2pa.created"]
    assert r.history[1]["actions"][0]["parameters"]["prompt"] == "first prompt"
    assert r.ingredients[0]["relationship"] == "parentOf" and r.ingredients[0]["validation_state"] == TRUSTED
    assert r.audit["memorisation"]["verdict"] == "copy"


def test_expired_certificate_without_timestamp_is_invalid(tmp_path):
    short = init_ca(tmp_path / "short", _signer_seconds=2)
    out = stamp_image(_image(tmp_path / "e.png"), tmp_path / "e_signed.png", ca=short).output
    assert verify_image(out, ca=short.directory).state == TRUSTED
    expiry = dt.datetime.fromisoformat(short.not_after).timestamp()
    time.sleep(max(0.0, expiry + 1.2 - time.time()))  # c2pa compares at whole-second resolution
    r = verify_image(out, ca=short.directory)
    assert r.state == INVALID and "signingCredential.expired" in r.codes
    assert any("expired" in reason for reason in r.reasons)
    with pytest.raises(ProvenanceError, match="expired"):  # and it can no longer sign
        stamp_image(_image(tmp_path / "e2.png"), tmp_path / "e2_signed.png", ca=short.directory)


def test_folder_mode_reads_samples_and_report(tmp_path, ca):
    gen_dir = tmp_path / "gen"
    gen_dir.mkdir()
    for i in range(3):
        _image(gen_dir / f"s{i}.png", seed=i)
    pd.DataFrame({"path": ["s0.png", "s1.png", "s2.png"], "prompt": ["p0", "p1", "p2"], "seed": [10, 11, 12]}) \
        .to_parquet(gen_dir / "samples.parquet")
    report = tmp_path / "report"
    report.mkdir()
    pd.DataFrame({"query_path": [str(gen_dir / "s0.png"), str(gen_dir / "s1.png")], "verdict": ["copy", "novel"],
                  "match_path": ["images/k1.png", None], "score": [0.97, 0.31]}).to_parquet(report / "matches.parquet")
    results = stamp_images([gen_dir], tmp_path / "out", ca=ca.directory,
                           options=ManifestOptions(include_prompt=False), report=report)
    assert [r.verdict for r in results] == ["copy", "novel", None]
    r0 = verify_image(tmp_path / "out" / "s0.png", ca=ca.directory)
    assert r0.history[0]["actions"][0]["parameters"] == {"seed": 10}  # --no-prompt: seed kept, prompt omitted
    assert r0.audit["memorisation"]["match_path"] == "images/k1.png" and r0.audit["prompt_recorded"] is False
    assert (tmp_path / "out" / "meta.json").is_file()
    assert all(not (gen_dir / f"s{i}.png").read_bytes().find(b"caBX") >= 0 for i in range(3))  # inputs untouched
    with pytest.raises(ArtefactError, match="already exists"):
        stamp_images([gen_dir], tmp_path / "out", ca=ca.directory)
    with pytest.raises(InputError, match="input folder"):
        stamp_images([gen_dir], gen_dir, ca=ca.directory)


def test_in_place_signs_inputs(tmp_path, ca):
    p = _image(tmp_path / "inplace.png")
    stamp_images([p], None, ca=ca.directory, in_place=True)
    assert verify_image(p, ca=ca.directory).state == TRUSTED


def test_bad_inputs_are_one_line_errors(tmp_path, ca):
    _image(tmp_path / "x.bmp", fmt="BMP")
    with pytest.raises(ProvenanceError, match="unsupported format '.bmp'"):
        stamp_image(tmp_path / "x.bmp", tmp_path / "y.bmp", ca=ca)
    good = _image(tmp_path / "g.png").read_bytes()
    (tmp_path / "trunc.png").write_bytes(good[: len(good) // 2])
    with pytest.raises(ImageError, match="trunc.png: corrupt or truncated"):
        stamp_image(tmp_path / "trunc.png", tmp_path / "trunc_out.png", ca=ca)
    signed = stamp_image(tmp_path / "g.png", tmp_path / "g_s.png", ca=ca).output.read_bytes()
    (tmp_path / "trunc_s.png").write_bytes(signed[:200])
    with pytest.raises(ProvenanceError, match="trunc_s.png: cannot be read"):
        verify_image(tmp_path / "trunc_s.png", ca=ca.directory)
    with pytest.raises(InputError, match="not found"):
        verify_image(tmp_path / "missing.png", ca=ca.directory)


def test_trust_options_reads_a_typed_path_as_ca_dir_or_root_pem(tmp_path, ca):
    """The provenance page's trust box: a directory is a CA (Trusted), a file a root PEM, blank the defaults."""
    from audit.provenance.verify import trust_options

    out = stamp_image(_image(tmp_path / "g.png", seed=4), tmp_path / "s.png", ca=ca).output
    assert trust_options(f"  {ca.directory}  ") == {"ca": ca.directory}
    assert trust_options("") == {} and trust_options(None) == {}
    other = init_ca(tmp_path / "other")
    pem = other.directory / "root.pem"
    assert trust_options(str(pem)) == {"trust": pem}
    data = out.read_bytes()
    assert verify_bytes(data, "s.png", **trust_options(str(ca.directory))).state == TRUSTED
    assert verify_bytes(data, "s.png", **trust_options(str(pem))).state == VALID  # intact, signer not trusted

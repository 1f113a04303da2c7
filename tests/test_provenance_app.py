"""The provenance app page, run headless with streamlit's AppTest on real signed and stripped images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from audit.provenance import init_ca, stamp_image

PAGE = Path(__file__).resolve().parents[1] / "app" / "app_pages" / "provenance.py"


@pytest.fixture(scope="module")
def signed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("prov_app")
    ca = init_ca(tmp / "ca")
    rng = np.random.default_rng(3)
    Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(tmp / "src.png")
    out = stamp_image(tmp / "src.png", tmp / "signed.png", ca=ca, prompt="a fox", seed=5,
                      verdict={"verdict": "similar", "score": 0.8}).output
    Image.open(out).save(tmp / "stripped.png")
    return ca, out, tmp / "stripped.png"


def _run(path: Path, trust: str):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(PAGE), default_timeout=30)
    at.run()
    at.text_input(key="prov_trust").input(trust)
    at.text_input(key="prov_path").input(str(path))
    at.run()
    assert not at.exception
    return at


def test_page_shows_trusted_state_and_audit(signed):
    ca, out, _ = signed
    at = _run(out, str(ca.directory))
    assert any("Trusted" in s.value for s in at.success)
    assert [m.value for m in at.metric][:1] == ["similar"]
    assert any("c2pa.created" in m.value.replace("\\", "") for m in at.markdown)


def test_invalid_image_shows_no_unverified_claims(signed, tmp_path):
    """Pixels changed after signing: the state is Invalid in plain words and the manifest's claims (verdict,
    mining permission, history) are not displayed as if they were true."""
    from test_provenance_stamp import tamper_one_pixel

    ca, _, _ = signed
    rng = np.random.default_rng(4)
    Image.fromarray(rng.integers(0, 255, (48, 48, 3), dtype=np.uint8)).save(tmp_path / "src.png", compress_level=0)
    out = stamp_image(tmp_path / "src.png", tmp_path / "signed.png", ca=ca, prompt="a fox", seed=5,
                      verdict={"verdict": "similar", "score": 0.8}).output
    bad = tmp_path / "tampered.png"
    bad.write_bytes(tamper_one_pixel(out.read_bytes()))
    at = _run(bad, str(ca.directory))
    msgs = " ".join(e.value for e in at.error)
    assert "Invalid" in msgs and "not shown" in msgs, msgs
    assert not at.metric and not at.table
    assert not any("c2pa.created" in m.value.replace("\\", "") for m in at.markdown)


def test_a_folder_path_says_so(signed):
    ca, out, _ = signed
    at = _run(out.parent, str(ca.directory))
    assert any("is a folder" in e.value for e in at.error)


def test_page_shows_stripped_and_untrusted(signed):
    ca, out, stripped = signed
    at = _run(stripped, str(ca.directory))
    assert any("No Content Credentials" in w.value for w in at.warning)
    other = init_ca(Path(ca.directory).parent / "other")
    at = _run(out, str(other.directory / "root.pem"))
    assert any("Valid" in i.value for i in at.info) and not at.success

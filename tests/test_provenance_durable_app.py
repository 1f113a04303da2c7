"""Provenance app page: a stripped durable-stamped image is recovered from the manifest store."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from audit.config import REFERENCE_DIR
from audit.provenance import init_ca, stamp_image

PAGE = Path(__file__).resolve().parents[1] / "app" / "app_pages" / "provenance.py"


def test_page_recovers_stripped_image(tmp_path):
    from streamlit.testing.v1 import AppTest

    ca = init_ca(tmp_path / "ca")
    Image.open(REFERENCE_DIR / "images" / "people-grace-hopper.jpg").convert("RGB").resize((288, 320)).save(
        tmp_path / "src.png")
    stamp_image(tmp_path / "src.png", tmp_path / "signed.png", ca=ca, prompt="a portrait", durable=True,
                store=tmp_path / "store")
    Image.open(tmp_path / "signed.png").convert("RGB").save(tmp_path / "stripped.jpg", quality=85)
    at = AppTest.from_file(str(PAGE), default_timeout=60)
    at.run()
    at.text_input(key="prov_trust").input(str(ca.directory))
    at.text_input(key="prov_path").input(str(tmp_path / "stripped.jpg"))
    at.run()
    at.text_input(key="prov_store").input(str(tmp_path / "store"))
    at.run()
    at.button(key="prov_recover").click()
    at.run()
    assert not at.exception
    assert any("Recovered by watermark" in s.value and "Trusted" in s.value for s in at.success)

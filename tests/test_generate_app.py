"""The Generate page renders a model's record and produces images through the real pipeline."""

from __future__ import annotations

from pathlib import Path

import torch
from streamlit.testing.v1 import AppTest
from test_generate_fixtures import model_dir, shapes_dataset  # noqa: F401  (fixtures)

PAGE = Path(__file__).resolve().parents[1] / "app" / "app_pages" / "generate.py"
torch.set_num_threads(1)


def test_generate_page_samples_images(model_dir, monkeypatch):
    monkeypatch.setenv("GENAUDIT_GENERATOR", str(model_dir))
    at = AppTest.from_file(str(PAGE), default_timeout=120).run()
    assert not at.exception
    at.number_input(key="gen_n").set_value(2)
    at.slider(key="gen_steps").set_value(5)
    at.button(key="gen_go").click().run()
    assert not at.exception
    assert len(at.get("image")) == 2
    assert "seed 1" in str(at.get("image")[1].proto)


def test_generate_page_reports_a_bad_model_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("GENAUDIT_GENERATOR", str(tmp_path / "missing"))
    at = AppTest.from_file(str(PAGE), default_timeout=60).run()
    assert not at.exception and "does not exist" in at.error[0].value

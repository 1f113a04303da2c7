"""The Generate page renders a model's record and produces images through the real pipeline."""

from __future__ import annotations

from pathlib import Path

import torch
from streamlit.testing.v1 import AppTest
from test_generate_fixtures import model_dir, shapes_dataset  # noqa: F401  (fixtures)

PAGE = Path(__file__).resolve().parents[1] / "app" / "app_pages" / "generate.py"
torch.set_num_threads(1)


def test_generate_page_samples_images(model_dir, monkeypatch, tmp_path):
    """Samples land in the workspace's runs/ folder (here: no workspace file, so under the working directory), with
    a finished progress status, a zip download and the scan button."""
    import io
    import zipfile

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GENAUDIT_GENERATOR", str(model_dir))
    at = AppTest.from_file(str(PAGE), default_timeout=120).run()
    assert not at.exception
    at.number_input(key="gen_n").set_value(2)
    at.slider(key="gen_steps").set_value(5)
    at.button(key="gen_go").click().run()
    assert not at.exception
    assert len(at.get("image")) == 2
    assert "p000_001.png" in str(at.get("image")[1].proto)
    bars = [e.proto for e in at.get("progress")]  # fed by audit.progress, as the CLI's tqdm bar
    assert [(b.value, b.text) for b in bars] == [(100, "sampling: 10 / 10")], bars
    runs = sorted((tmp_path / "runs").iterdir())
    assert len(runs) == 1 and sorted(p.name for p in runs[0].glob("*.png")) == ["p000_000.png", "p000_001.png"]
    blob = at.get("download_button")[0].proto.url
    assert blob  # served by the media file manager; the zip itself:
    from app import app_display

    names = zipfile.ZipFile(io.BytesIO(app_display.zip_folder(runs[0]))).namelist()
    assert "p000_000.png" in names and "meta.json" in names


def test_generate_page_reports_a_bad_model_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("GENAUDIT_GENERATOR", str(tmp_path / "missing"))
    at = AppTest.from_file(str(PAGE), default_timeout=60).run()
    assert not at.exception and "does not exist" in at.error[0].value

"""Renamed meta.json keys: artefacts written before the rename (the shipped generator, users' indices and
datasets) keep loading, because every reader goes through `audit.meta.recorded` / `weights_sha256`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from audit.config import GENERATOR_DIR
from audit.meta import INPUTS_SHA256, OLD_KEYS, WEIGHTS_SHA256, recorded, weights_sha256

IMAGES = Path(__file__).parent / "data" / "images"
MODEL = "genaudit-tiny-clip@random:0"


@pytest.mark.parametrize("old", OLD_KEYS[WEIGHTS_SHA256])
def test_weights_sha256_is_read_under_every_old_name(old):
    assert weights_sha256({old: "ab" * 32}) == "ab" * 32
    assert weights_sha256({old: "ab" * 32, WEIGHTS_SHA256: "cd" * 32}) == "cd" * 32  # today's key wins
    assert weights_sha256({old: ""}) is None and weights_sha256({}) is None


def test_inputs_sha256_is_read_under_its_old_name(tmp_path):
    from audit.dataset.store import up_to_date
    from audit.records import MANIFEST_NAME

    assert recorded({"input_fingerprint": "f00d"}, INPUTS_SHA256) == "f00d"
    (tmp_path / MANIFEST_NAME).write_bytes(b"")
    (tmp_path / "meta.json").write_text(json.dumps({"kind": "dataset", "input_fingerprint": "f00d"}))
    assert up_to_date(tmp_path, "f00d") and not up_to_date(tmp_path, "beef")


@pytest.mark.skipif(not (GENERATOR_DIR / "model.safetensors").is_file(), reason="no shipped generator")
def test_shipped_generator_with_old_keys_loads():
    from audit.generate import load_pipeline
    from audit.meta import read_meta, sha256_file
    from audit.provenance.assertions import read_generator

    meta = read_meta(GENERATOR_DIR)
    if WEIGHTS_SHA256 in meta:
        pytest.skip("the shipped generator was retrained with today's keys")
    assert read_generator(GENERATOR_DIR).weights_sha256 == meta["model_sha256"] == sha256_file(GENERATOR_DIR / "model.safetensors")
    pipe = load_pipeline(GENERATOR_DIR)  # checks the text encoder against text_encoder.fingerprint
    assert pipe.text.weights_sha256 == meta["text_encoder"]["fingerprint"]


def test_index_written_with_model_fingerprint_stays_up_to_date_and_queryable(tmp_path):
    from audit.index import open_index
    from audit.index.build import build_index_report

    images = tmp_path / "images"
    shutil.copytree(IMAGES, images, ignore=lambda d, names: [n for n in names if n.startswith("wp_")])
    out = tmp_path / "index"
    first = build_index_report(images, out, model=MODEL)
    assert not first.up_to_date
    meta = json.loads((out / "meta.json").read_text())
    meta["model_fingerprint"] = meta.pop(WEIGHTS_SHA256)  # as indices were written before the rename
    (out / "meta.json").write_text(json.dumps(meta))
    assert build_index_report(images, out, model=MODEL).up_to_date  # not "built from other inputs"
    idx = open_index(out)
    assert idx.search_text("a drawing", k=1)  # the query model is checked against model_fingerprint

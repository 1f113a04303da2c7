"""`audit generate sample --stamp [--durable]` with the shipped generator checkpoint (n=1, 5 steps)."""

from __future__ import annotations

import pytest

from audit.cli import main
from audit.config import GENERATOR_DIR
from audit.provenance.ca import init_ca
from audit.provenance.verify import verify_image

pytestmark = pytest.mark.skipif(not (GENERATOR_DIR / "model.safetensors").is_file(), reason="no shipped generator")


def test_sample_stamp_records_prompt_seed_generator(tmp_path, capsys):
    init_ca(tmp_path / "ca")
    out = tmp_path / "samples"
    code = main(["generate", "sample", "--model", str(GENERATOR_DIR), "--out", str(out), "--prompt", "a red fox",
                 "--n", "1", "--steps", "5", "--seed", "3", "--stamp", "--ca", str(tmp_path / "ca")])
    assert code == 0, capsys.readouterr().err
    v = verify_image(out / "p000_000.png", ca=tmp_path / "ca")
    assert v.state == "Trusted"
    action = v.history[0]["actions"][0]
    assert action["parameters"] == {"prompt": "a red fox", "seed": 3}
    assert v.audit["generator"]["checkpoint_sha256"]


def test_sample_durable_refuses_too_small_samples(tmp_path, capsys):
    out = tmp_path / "samples"
    code = main(["generate", "sample", "--model", str(GENERATOR_DIR), "--out", str(out), "--prompt", "a fox",
                 "--n", "1", "--steps", "5", "--stamp", "--durable", "--ca", str(tmp_path / "ca"),
                 "--store", str(tmp_path / "store")])
    assert code == 2 and "too small" in capsys.readouterr().err
    assert not out.exists()

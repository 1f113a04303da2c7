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
    code = main(["generate", "sample", "--generator", str(GENERATOR_DIR), "--out", str(out), "--prompt", "a red fox",
                 "--n", "1", "--steps", "5", "--seed", "3", "--stamp", "--ca", str(tmp_path / "ca")])
    assert code == 0, capsys.readouterr().err
    v = verify_image(out / "p000_000.png", ca=tmp_path / "ca")
    assert v.state == "Trusted"
    action = v.history[0]["actions"][0]
    assert action["parameters"] == {"prompt": "a red fox", "seed": 3}
    assert v.audit["generator"]["weights_sha256"]


def test_sample_durable_upscales_small_samples_records_it_and_recovers(tmp_path, capsys):
    """32 px samples are below the mark's 256 px minimum: Lanczos-upscaled, recorded as c2pa.resized and
    in samples.parquet, watermarked, stored; after stripping, recover finds the sample's manifest."""
    import pandas as pd
    from PIL import Image

    from audit.provenance import watermark as wm
    from audit.provenance.recover import recover_image
    from audit.provenance.store import ManifestStore

    init_ca(tmp_path / "ca")
    out, store = tmp_path / "samples", tmp_path / "store"
    code = main(["generate", "sample", "--generator", str(GENERATOR_DIR), "--out", str(out), "--prompt", "a fox",
                 "--n", "1", "--steps", "3", "--seed", "5", "--stamp", "--durable", "--ca", str(tmp_path / "ca"),
                 "--store", str(store)])
    assert code == 0, capsys.readouterr().err
    png = out / "p000_000.png"
    assert Image.open(png).size == (wm.MIN_SIDE, wm.MIN_SIDE)
    row = pd.read_parquet(out / "samples.parquet").iloc[0]
    assert row["upscaled_from"] == "32x32" and (row["width"], row["height"]) == (wm.MIN_SIDE, wm.MIN_SIDE)
    v = verify_image(png, ca=tmp_path / "ca")
    assert v.state == "Trusted"
    actions = v.history[0]["actions"]
    assert [a["action"] for a in actions] == ["c2pa.created", "c2pa.resized"]
    assert actions[0]["parameters"] == {"prompt": "a fox", "seed": 5}
    with ManifestStore(store, create=False) as s:
        (entry,) = list(s.entries())
        assert s.missing_local_features() == []
    Image.open(png).convert("RGB").save(tmp_path / "stripped.jpg", "JPEG", quality=90)
    r = recover_image(tmp_path / "stripped.jpg", [store], ca=tmp_path / "ca")
    assert r.recovered and r.wm_id == entry.wm_id and r.state == "Trusted", r.reasons

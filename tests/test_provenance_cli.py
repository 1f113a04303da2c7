"""`audit provenance` CLI: exit codes, JSON output, one-line errors, generator meta and samples.parquet."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from audit.cli import main
from audit.meta import make_meta, write_meta


def _images(folder, n=2):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(folder / f"g{i}.png")
    return folder


def test_cli_init_stamp_verify_json(tmp_path, capsys):
    ca = tmp_path / "ca"
    assert main(["provenance", "init-ca", "--out", str(ca)]) == 0
    assert main(["provenance", "init-ca", "--out", str(ca)]) == 2  # refuses to overwrite
    assert "already exists" in capsys.readouterr().err
    gen = tmp_path / "model"
    gen.mkdir()
    (gen / "model.safetensors").write_bytes(b"weights")
    write_meta(gen, make_meta("generator", name="tiny-diffusion", manifest_hash="f" * 64,
                              optout_summary={"checked": 5, "opted_out": 0}))
    imgs = _images(tmp_path / "gen")
    pd.DataFrame({"path": ["g0.png", "g1.png"], "prompt": ["a cat", "a dog"], "seed": [3, 4]}) \
        .to_parquet(imgs / "samples.parquet")
    out = tmp_path / "signed"
    assert main(["provenance", "stamp", str(imgs), "--out", str(out), "--ca", str(ca), "--generator", str(gen),
                 "--training-mining", "allowed", "--mining-label", "c2pa"]) == 0
    capsys.readouterr()
    assert main(["provenance", "verify", str(out), "--ca", str(ca), "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert [r["state"] for r in results] == ["Trusted", "Trusted"]
    r0 = results[0]
    action = r0["history"][0]["actions"][0]
    assert action["parameters"] == {"prompt": "a cat", "seed": 3}
    assert r0["audit"]["generator"]["name"] == "tiny-diffusion"
    assert len(r0["audit"]["generator"]["weights_sha256"]) == 64  # hashed from model.safetensors
    assert r0["audit"]["training_manifest_sha256"] == "f" * 64
    assert r0["training_mining"]["entries"]["c2pa.ai_training"]["use"] == "allowed"

    # human output; a stripped copy makes the run fail with exit code 1
    Image.open(out / "g0.png").save(tmp_path / "stripped.png")
    with pytest.raises(SystemExit) as exit_info:
        main(["provenance", "verify", str(out / "g1.png"), str(tmp_path / "stripped.png"), "--ca", str(ca)])
    assert exit_info.value.code == 1
    text = capsys.readouterr().out
    assert "g1.png: Trusted" in text and "stripped.png: NoManifest" in text and "c2pa.created" in text


def test_cli_errors_are_one_line(tmp_path, capsys):
    imgs = _images(tmp_path / "in", n=1)
    (tmp_path / "doc.gif").write_bytes(b"GIF89a")
    assert main(["provenance", "stamp", str(imgs), "--out", str(tmp_path / "o"), "--ca", str(tmp_path / "no")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "no such CA directory" in err and "Traceback" not in err
    assert main(["provenance", "verify", str(tmp_path / "doc.gif")]) == 2
    assert "unsupported format '.gif'" in capsys.readouterr().err
    assert main(["provenance", "stamp", str(imgs), "--ca", str(tmp_path / "no")]) == 2  # neither --out nor --in-place
    assert "--out DIR or --in-place" in capsys.readouterr().err

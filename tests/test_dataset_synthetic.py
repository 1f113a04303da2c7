"""The synthetic set: same seed -> same bytes; every caption says what the pixels show."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from PIL import Image

from audit.cli import main
from audit.dataset.synthetic import COLORS, build_synthetic, caption
from audit.records import read_manifest


def test_deterministic_for_a_seed(tmp_path: Path) -> None:
    a = build_synthetic(tmp_path / "a", n=40, seed=3, size=32)
    b = build_synthetic(tmp_path / "b", n=40, seed=3, size=32)
    c = build_synthetic(tmp_path / "c", n=40, seed=4, size=32)
    ma, mb, mc = (read_manifest(r.out) for r in (a, b, c))
    assert list(ma["sha256"]) == list(mb["sha256"]) and list(ma["caption"]) == list(mb["caption"])
    assert list(ma["sha256"]) != list(mc["sha256"])
    assert a.count == 40 and set(ma["author"]) == {"genaudit synthetic"} and set(ma["license"]) == {"CC0-1.0"}


def test_captions_match_pixels(tmp_path: Path) -> None:
    res = build_synthetic(tmp_path / "s", n=120, seed=0, size=48)
    df = read_manifest(res.out)
    assert df["shape"].nunique() >= 6 and df["position"].nunique() == 9
    for row in df.itertuples():
        img = Image.open(res.out / row.path).convert("RGB")
        assert img.size == (48, 48)
        assert row.caption == caption(row.shape, row.color, row.background, row.position, row.size)
        assert f" {row.color} {row.shape} " in row.caption and f"{row.background} background" in row.caption
        assert img.getpixel((row.probe_x, row.probe_y)) == COLORS[row.color], row.caption
        # the corner farthest from the shape shows the background
        corner = (0 if row.cx > 24 else 47, 0 if row.cy > 24 else 47)
        assert img.getpixel(corner) == COLORS[row.background], row.caption
        if row.position == "top left":
            assert row.cx < 24 and row.cy < 24 and row.caption.endswith(", top left")
        if row.position == "center":
            assert row.caption.endswith("in the center")


def test_cli_idempotent_and_bad_args(tmp_path: Path, capsys) -> None:
    out = tmp_path / "syn"
    assert main(["dataset", "build-synthetic", "--out", str(out), "--n", "10", "--size", "32"]) == 0
    before = (out / "meta.json").read_text()
    assert main(["dataset", "build-synthetic", "--out", str(out), "--n", "10", "--size", "32"]) == 0
    assert "up to date" in capsys.readouterr().out
    assert (out / "meta.json").read_text() == before  # nothing rewritten
    meta = json.loads(before)
    assert meta["kind"] == "dataset" and meta["seed"] == 0 and meta["count"] == 10
    assert main(["dataset", "build-synthetic", "--out", str(out), "--n", "0"]) == 2
    err = capsys.readouterr().err
    assert "--n 0" in err and "Traceback" not in err
    assert len(pd.read_parquet(out / "manifest.parquet")) == 10  # old artefact intact


def test_refuses_to_overwrite_a_foreign_folder(tmp_path: Path, capsys) -> None:
    (tmp_path / "mine.txt").write_text("keep me")
    assert main(["dataset", "build-synthetic", "--out", str(tmp_path), "--n", "5"]) == 2
    assert "not a genaudit dataset" in capsys.readouterr().err
    assert (tmp_path / "mine.txt").read_text() == "keep me"

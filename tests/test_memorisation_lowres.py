"""Small (32 px) generations: a copy redrawn at low resolution with a colour cast must be found.

Regression for the opt-out experiment (docs/EXPERIMENTS.md): a 32 px generator's copies of clip-art works
were all called novel (no keypoints at 32 px, colour cast spoils the tiled L2, tiny CLIP / pHash retrieval
missed the work). Real fixture drawings, a real faiss index (random-init tiny CLIP, so CLIP cannot help).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from audit.memorisation.run import scan_folder
from audit.memorisation.verdict import Thresholds

IMAGES = Path(__file__).parent / "data" / "images"
MODEL = "genaudit-tiny-clip@random:0"
HELD_OUT = ("oc_lemon.png", "oc_saturn_dan_gerhards_01.png", "oc_toy_paper_plane_01.png")
COPIED = ("oc_home0.png", "oc_rubik_s_cube_simple_petr_01.png", "oc_bug_nicu_buculei_01.png")
T = Thresholds(clip_similar=0.9999)  # random-weights CLIP: cosines are meaningless


def generated_32px(img: Image.Image, seed: int) -> Image.Image:
    """What a 32 px generator trained on `img` returns: centre square at 32 px, a colour cast, noise."""
    side = min(img.size)
    left, top = (img.width - side) // 2, (img.height - side) // 2
    small = img.convert("RGB").crop((left, top, left + side, top + side)).resize((32, 32), Image.Resampling.BICUBIC)
    a = np.asarray(small, dtype=np.float32) * 0.7 + np.array([60.0, -15.0, 45.0])
    a += np.random.default_rng(seed).normal(0.0, 8.0, a.shape)
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> pd.DataFrame:
    from audit.index import build_index

    root = tmp_path_factory.mktemp("lowres")
    (root / "train").mkdir()
    (root / "gen").mkdir()
    for p in sorted(IMAGES.iterdir()):
        if p.suffix in (".png", ".jpg") and p.name not in HELD_OUT:
            shutil.copy(p, root / "train" / p.name)
    index = build_index(root / "train", root / "index", model=MODEL)
    for i, name in enumerate(COPIED + HELD_OUT):
        tag = "novel" if name in HELD_OUT else "copy"
        generated_32px(Image.open(IMAGES / name), seed=i).save(root / "gen" / f"{tag}__{Path(name).stem}.png")
    scan_folder(root / "gen", index, root / "report", thresholds=T, baseline_sample=0, workers=1)
    df = pd.read_parquet(root / "report" / "matches.parquet")
    df["name"] = [Path(p).stem for p in df["query_path"]]
    return df.set_index("name")


@pytest.mark.parametrize("name", [Path(n).stem for n in COPIED])
def test_32px_copy_with_colour_cast_is_copy_of_the_right_drawing(report, name):
    r = report.loc[f"copy__{name}"]
    assert r["verdict"] == "copy", r["reasons"]
    assert r["match_key"] == name
    assert r["lowres_ssim"] >= T.lowres_ssim and r["lowres_ratio"] <= T.lowres_ratio


@pytest.mark.parametrize("name", [Path(n).stem for n in HELD_OUT])
def test_32px_drawing_not_in_the_index_is_not_a_copy(report, name):
    r = report.loc[f"novel__{name}"]
    assert r["verdict"] != "copy", (r["match_key"], r["reasons"])


def test_upscaled_sample_is_scanned_at_its_recorded_native_size(tmp_path):
    """`generate sample --stamp --durable` saves 32 px samples at 256 px; samples.parquet's `upscaled_from`
    lets the scan undo that, so the copy is still found (and without the record the note is absent)."""
    from audit.index import build_index

    (tmp_path / "train").mkdir()
    for p in sorted(IMAGES.iterdir()):
        if p.suffix in (".png", ".jpg"):
            shutil.copy(p, tmp_path / "train" / p.name)
    index = build_index(tmp_path / "train", tmp_path / "index", model=MODEL)
    gen = tmp_path / "gen"
    gen.mkdir()
    name = COPIED[1]
    big = generated_32px(Image.open(IMAGES / name), seed=0).resize((256, 256), Image.Resampling.LANCZOS)
    big.save(gen / "p000_000.png")
    pd.DataFrame([{"path": "p000_000.png", "upscaled_from": "32x32"}]).to_parquet(gen / "samples.parquet")
    scan_folder(gen, index, tmp_path / "report", thresholds=T, baseline_sample=0, workers=1)
    r = pd.read_parquet(tmp_path / "report" / "matches.parquet").iloc[0]
    assert r["verdict"] == "copy" and r["match_key"] == Path(name).stem, r["reasons"]
    assert r["lowres_ssim"] >= T.lowres_ssim
    (gen / "samples.parquet").unlink()
    scan_folder(gen, index, tmp_path / "report2", thresholds=T, baseline_sample=0, workers=1)
    r2 = pd.read_parquet(tmp_path / "report2" / "matches.parquet").iloc[0]
    assert not (r2["lowres_ssim"] == r2["lowres_ssim"])  # NaN: a 256 px image gets no small-generation evidence

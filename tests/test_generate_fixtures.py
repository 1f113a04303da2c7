"""Shared fixtures for tests/test_generate_*.py: a small real dataset of shapes on plain backgrounds."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from PIL import Image, ImageDraw

from audit.meta import make_meta, sha256_file, write_meta
from audit.records import write_manifest

COLOURS = {"red": (220, 30, 30), "green": (30, 180, 60), "blue": (40, 60, 220), "yellow": (240, 210, 20)}
BACKGROUNDS = {"white": (255, 255, 255), "black": (0, 0, 0), "grey": (128, 128, 128)}
SHAPES = ("circle", "square", "triangle")
CLIP = "genaudit-tiny-clip@random:0"


def draw(shape: str, colour: str, bg: str, size: int = 48, offset: int = 0) -> Image.Image:
    img = Image.new("RGB", (size, size), BACKGROUNDS[bg])
    d = ImageDraw.Draw(img)
    a, b = size // 4 + offset, 3 * size // 4 + offset
    fill = COLOURS[colour]
    if shape == "circle":
        d.ellipse((a, a, b, b), fill=fill)
    elif shape == "square":
        d.rectangle((a, a, b, b), fill=fill)
    else:
        d.polygon([(size // 2 + offset, a), (a, b), (b, b)], fill=fill)
    return img


def make_dataset(root: Path, n: int = 24, authors: tuple[str, ...] = ("Ada", "Bob", "Cy")) -> Path:
    """n images (shape × colour × background cycling), captions naming all three, authors cycling."""
    (root / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    combos = [(s, c, b) for s in SHAPES for c in COLOURS for b in BACKGROUNDS]
    for i in range(n):
        s, c, b = combos[i % len(combos)]
        img = draw(s, c, b, offset=(i // len(combos)) * 3)
        rel = f"images/k{i:04d}.png"
        img.save(root / rel)
        rows.append({"key": f"k{i:04d}", "path": rel, "url": "", "caption": f"a {c} {s} on a {b} background",
                     "width": img.width, "height": img.height, "sha256": sha256_file(root / rel), "phash": "",
                     "author": authors[i % len(authors)], "license": "CC0", "source": "test"})
    write_manifest(pd.DataFrame(rows), root)
    write_meta(root, make_meta("dataset"))
    return root


@pytest.fixture(scope="session")
def shapes_dataset(tmp_path_factory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("gen_ds"))


@pytest.fixture(scope="session")
def model_dir(shapes_dataset, tmp_path_factory) -> Path:
    """A real (tiny, 2-step) generator dir trained on shapes_dataset."""
    from audit.generate.train import GeneratorTrainSettings, train

    out = tmp_path_factory.mktemp("gen_model") / "m"
    train(GeneratorTrainSettings(datasets=(str(shapes_dataset),), out=str(out), steps=2, batch=4, preset="tiny", clip=CLIP))
    return out

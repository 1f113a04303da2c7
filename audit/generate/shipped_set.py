"""Rebuild the training set of the shipped generator (data/generator/model.safetensors).

324 synthetic images (3 shapes x 6 colours x 3 plain backgrounds x 2 sizes x 3 positions, drawn at
64 px) with captions naming all of it, plus 5 real photographs that ship with
scikit-image / matplotlib, duplicated x100 at training time so the model memorises them:

    python -m audit.generate.shipped_set /tmp/genship/ds

The training command is in meta.json (`training.train_command`); its `training.manifest_hash` must
equal `audit.records.manifest_hash` of the manifest this script writes (it is deterministic).
`audit demo` rebuilds it to scan the shipped generator's samples against its own training data.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from audit.meta import make_meta, sha256_file, write_meta
from audit.records import write_manifest

COLOURS = {"red": (220, 30, 30), "green": (30, 180, 60), "blue": (40, 60, 220), "yellow": (240, 210, 20),
           "orange": (245, 140, 20), "purple": (140, 40, 180)}
BACKGROUNDS = {"white": (255, 255, 255), "black": (0, 0, 0), "grey": (128, 128, 128)}
SHAPES = ("circle", "square", "triangle")
SIZES = {"small": 10, "large": 20}
POSITIONS = {"left": 18, "centre": 32, "right": 46}


def _references() -> list[tuple[str, np.ndarray, str, str, str]]:
    import matplotlib.cbook
    import skimage.data

    hopper = np.asarray(Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg")))  # type: ignore[arg-type]
    return [
        ("ref_astronaut", skimage.data.astronaut(), "a photo of the astronaut eileen collins", "NASA", "public domain"),
        ("ref_coffee", skimage.data.coffee(), "a cup of coffee on a saucer", "Rachel Michetti", "CC0"),
        ("ref_chelsea", skimage.data.chelsea(), "a photo of chelsea the cat", "Stefan van der Walt", "CC0"),
        ("ref_rocket", skimage.data.rocket(), "a rocket on the launch pad", "SpaceX", "CC0"),
        ("ref_hopper", hopper, "a portrait of grace hopper", "US Navy", "public domain"),
    ]


def build(root: Path) -> int:
    (root / "images").mkdir(parents=True, exist_ok=True)
    rng, rows, i = random.Random(0), [], 0
    for s in SHAPES:
        for c, fill in COLOURS.items():
            for b, bg in BACKGROUNDS.items():
                if fill == bg:
                    continue
                for sz, r in SIZES.items():
                    for pos, cx in POSITIONS.items():
                        img = Image.new("RGB", (64, 64), bg)
                        d = ImageDraw.Draw(img)
                        cy = 32 + rng.randint(-4, 4)
                        if s == "circle":
                            d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill)
                        elif s == "square":
                            d.rectangle((cx - r, cy - r, cx + r, cy + r), fill=fill)
                        else:
                            d.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=fill)
                        rel = f"images/syn{i:04d}.png"
                        img.save(root / rel)
                        rows.append(dict(key=f"syn{i:04d}", path=rel, url="",
                                         caption=f"a {sz} {c} {s} on the {pos} of a {b} background", width=64,
                                         height=64, sha256=sha256_file(root / rel), phash="",
                                         author="genaudit synthetic", license="CC0", source="synthetic"))
                        i += 1
    for key, arr, cap, author, lic in _references():
        img = Image.fromarray(arr).convert("RGB")
        img.thumbnail((256, 256))
        rel = f"images/{key}.png"
        img.save(root / rel)
        rows.append(dict(key=key, path=rel, url="", caption=cap, width=img.width, height=img.height,
                         sha256=sha256_file(root / rel), phash="", author=author, license=lic,
                         source="scikit-image/matplotlib sample data"))
    write_manifest(pd.DataFrame(rows), root)
    write_meta(root, make_meta("dataset", note="training set of the shipped generator"))
    return len(rows)


if __name__ == "__main__":
    print(build(Path(sys.argv[1] if len(sys.argv) > 1 else "generator-training-set")))

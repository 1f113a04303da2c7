"""A controlled synthetic set: shapes x colours x backgrounds x positions x sizes with exact captions.

Used where ground truth matters (retrieval sanity checks, memorisation experiments): every caption
says exactly what is drawn, and the same seed gives the same bytes.
"""

from __future__ import annotations

import math
import random
from pathlib import Path

from PIL import Image, ImageDraw

from audit import config
from audit.dataset.store import BuildResult, DatasetWriter, check_out_dir, inputs_sha256, result_from_existing, up_to_date, write_dataset
from audit.errors import InputError
from audit.progress import track

SHAPES = ("circle", "square", "triangle", "star", "ring", "cross", "diamond", "hexagon")
COLORS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30), "green": (30, 160, 50), "blue": (30, 60, 220), "yellow": (240, 220, 30),
    "orange": (245, 140, 20), "purple": (130, 40, 170), "pink": (245, 130, 190), "cyan": (40, 200, 220),
    "brown": (120, 70, 30), "black": (10, 10, 10), "white": (250, 250, 250), "gray": (128, 128, 128),
}
#: (name, centre as fraction of the side)
POSITIONS: dict[str, tuple[float, float]] = {
    "top left": (0.25, 0.25), "top": (0.5, 0.25), "top right": (0.75, 0.25),
    "left": (0.25, 0.5), "center": (0.5, 0.5), "right": (0.75, 0.5),
    "bottom left": (0.25, 0.75), "bottom": (0.5, 0.75), "bottom right": (0.75, 0.75),
}
#: size word -> radius as a fraction of the side
SIZES: dict[str, float] = {"small": 0.11, "medium": 0.16, "large": 0.21}
SUPERSAMPLE = 4
AUTHOR = "genaudit synthetic"
LICENSE = "CC0-1.0"


def caption(shape: str, color: str, background: str, position: str, size: str) -> str:
    """'a large red circle on a blue background, top left' ('an orange background'; 'in the center')."""
    where = "in the center" if position == "center" else position
    article = "an" if background[0] in "aeiou" else "a"
    return f"a {size} {color} {shape} on {article} {background} background, {where}"


def _polygon(cx: float, cy: float, r: float, n: int, rotation: float = -math.pi / 2, inner: float | None = None):
    pts = []
    steps = n * 2 if inner else n
    for i in range(steps):
        rad = (inner if inner and i % 2 else 1.0) * r
        a = rotation + 2 * math.pi * i / steps
        pts.append((cx + rad * math.cos(a), cy + rad * math.sin(a)))
    return pts


def draw_shape(size: int, shape: str, fg: tuple[int, int, int], bg: tuple[int, int, int],
               cx: float, cy: float, r: float) -> Image.Image:
    """Draw one shape (coordinates in output pixels), anti-aliased by supersampling."""
    s = SUPERSAMPLE
    img = Image.new("RGB", (size * s, size * s), bg)
    d = ImageDraw.Draw(img)
    X, Y, R = cx * s, cy * s, r * s
    box = (X - R, Y - R, X + R, Y + R)
    if shape == "circle":
        d.ellipse(box, fill=fg)
    elif shape == "square":
        h = R * 0.85
        d.rectangle((X - h, Y - h, X + h, Y + h), fill=fg)
    elif shape == "triangle":
        d.polygon([(X, Y - R), (X + R * math.sqrt(3) / 2, Y + R / 2), (X - R * math.sqrt(3) / 2, Y + R / 2)], fill=fg)
    elif shape == "star":
        d.polygon(_polygon(X, Y, R, 5, inner=0.45), fill=fg)
    elif shape == "ring":
        d.ellipse(box, fill=fg)
        q = R * 0.5
        d.ellipse((X - q, Y - q, X + q, Y + q), fill=bg)
    elif shape == "cross":
        w = R * 0.35
        d.rectangle((X - R, Y - w, X + R, Y + w), fill=fg)
        d.rectangle((X - w, Y - R, X + w, Y + R), fill=fg)
    elif shape == "diamond":
        d.polygon([(X, Y - R), (X + R * 0.8, Y), (X, Y + R), (X - R * 0.8, Y)], fill=fg)
    elif shape == "hexagon":
        d.polygon(_polygon(X, Y, R, 6, rotation=0.0), fill=fg)
    else:
        raise InputError(f"unknown shape {shape!r}", f"choose from {', '.join(SHAPES)}")
    return img.resize((size, size), Image.Resampling.BOX)


def probe_point(shape: str, cx: float, cy: float, r: float) -> tuple[int, int]:
    """A pixel that is surely inside the shape (the ring's centre is background, so probe its band)."""
    if shape == "ring":
        return math.floor(cx + 0.75 * r), math.floor(cy)  # pixel i covers [i, i+1)
    return math.floor(cx), math.floor(cy)


def sample_specs(n: int, seed: int, size: int) -> list[dict]:
    """The n item descriptions (shape, colours, position, size, exact geometry) for a seed."""
    rng = random.Random(seed)
    colors = list(COLORS)
    specs = []
    for i in range(n):
        shape = rng.choice(SHAPES)
        color = rng.choice(colors)
        background = rng.choice([c for c in colors if c != color])
        position = rng.choice(list(POSITIONS))
        size_word = rng.choice(list(SIZES))
        fx, fy = POSITIONS[position]
        r = SIZES[size_word] * size
        jitter = 0.03 * size
        cx = fx * size + rng.uniform(-jitter, jitter)
        cy = fy * size + rng.uniform(-jitter, jitter)
        px, py = probe_point(shape, cx, cy, r)
        specs.append({
            "key": f"syn-{i:06d}", "shape": shape, "color": color, "background": background,
            "position": position, "size": size_word, "cx": round(cx, 3), "cy": round(cy, 3),
            "radius": round(r, 3), "probe_x": px, "probe_y": py,
        })
    return specs


def build_synthetic(out: str | Path, *, n: int = 2000, seed: int = config.DEFAULT_SEED, size: int = 64,
                    force: bool = False) -> BuildResult:
    """Write n synthetic images (PNG, lossless so colours stay exact) and their manifest to `out`."""
    out = Path(out)
    if n < 1:
        raise InputError(f"--n {n}: need at least one image")
    if not 16 <= size <= 1024:
        raise InputError(f"--size {size} is out of range", "use 16..1024 pixels")
    check_out_dir(out)
    inputs = {"kind": "synthetic", "n": n, "seed": seed, "size": size}
    fp = inputs_sha256(inputs)
    if not force and up_to_date(out, fp):
        return result_from_existing(out)

    def fill(w: DatasetWriter) -> dict:
        for spec in track(sample_specs(n, seed, size), "synthetic", total=n, unit="img"):
            img = draw_shape(size, spec["shape"], COLORS[spec["color"]], COLORS[spec["background"]],
                             spec["cx"], spec["cy"], spec["radius"])
            cap = caption(spec["shape"], spec["color"], spec["background"], spec["position"], spec["size"])
            w.add(spec["key"], img, caption=cap, author=AUTHOR, license=LICENSE,
                  source=f"synthetic:seed={seed}:{spec['key']}", url=None,
                  **{k: v for k, v in spec.items() if k != "key"})
        return {}

    return write_dataset(out, fp, fill, max_side=size, image_format="png", keep_duplicates=True,
                         dataset="synthetic", seed=seed, inputs=inputs,
                         sources=[{"generator": "audit.dataset.synthetic", "license": LICENSE}])

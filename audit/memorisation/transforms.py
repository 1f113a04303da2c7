"""Transformed copies of real images: the edits a generator's near-copy (or a copier) typically makes.

Used to build copy-detection test sets (benchmarks/copy_detection_eval.py, tests) so thresholds are
calibrated on the same edits the detector claims to survive. Every transform is seeded.
"""

from __future__ import annotations

import io
import random
from typing import Callable

from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont

Transform = Callable[[Image.Image, random.Random], Image.Image]


def crop(img: Image.Image, rng: random.Random) -> Image.Image:
    """Keep 70–95 % of each side at a random offset."""
    f = rng.uniform(0.70, 0.95)
    w, h = round(img.width * f), round(img.height * f)
    x, y = rng.randint(0, img.width - w), rng.randint(0, img.height - h)
    return img.crop((x, y, x + w, y + h))


def resize(img: Image.Image, rng: random.Random) -> Image.Image:
    f = rng.choice([rng.uniform(0.4, 0.8), rng.uniform(1.2, 1.6)])
    return img.resize((max(8, round(img.width * f)), max(8, round(img.height * f))), Image.Resampling.BICUBIC)


def jpeg(img: Image.Image, rng: random.Random) -> Image.Image:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "JPEG", quality=rng.randint(40, 90))
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def colour(img: Image.Image, rng: random.Random) -> Image.Image:
    """Brightness, contrast and saturation each within ±20 %."""
    for enh in (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color):
        img = enh(img).enhance(rng.uniform(0.8, 1.2))
    return img


def flip(img: Image.Image, rng: random.Random) -> Image.Image:
    return img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)


def rotate(img: Image.Image, rng: random.Random) -> Image.Image:
    angle = rng.uniform(3, 10) * rng.choice([-1, 1])
    return img.rotate(angle, resample=Image.Resampling.BICUBIC, expand=False, fillcolor=(255, 255, 255))


def blur(img: Image.Image, rng: random.Random) -> Image.Image:
    return img.filter(ImageFilter.GaussianBlur(radius=rng.uniform(0.8, 2.0) * max(img.size) / 512))


def text(img: Image.Image, rng: random.Random) -> Image.Image:
    """Overlay a caption band of text (watermark-style)."""
    out = img.convert("RGB").copy()
    draw = ImageDraw.Draw(out)
    size = max(10, img.height // 12)
    try:
        font = ImageFont.load_default(size=size)
    except TypeError:  # old Pillow
        font = ImageFont.load_default()
    y = rng.randint(0, max(0, img.height - size - 4))
    colour_ = rng.choice([(255, 255, 255), (0, 0, 0), (255, 0, 0)])
    draw.text((rng.randint(0, img.width // 4), y), rng.choice(["SAMPLE", "© stock photo", "generated 2026"]), fill=colour_, font=font)
    return out


def pad(img: Image.Image, rng: random.Random) -> Image.Image:
    """Add a border of 5–20 % per side, plain colour."""
    px = round(img.width * rng.uniform(0.05, 0.20))
    py = round(img.height * rng.uniform(0.05, 0.20))
    fill = rng.choice([(255, 255, 255), (0, 0, 0), (128, 128, 128)])
    out = Image.new("RGB", (img.width + 2 * px, img.height + 2 * py), fill)
    out.paste(img.convert("RGB"), (px, py))
    return out


def jpeg_crop(img: Image.Image, rng: random.Random) -> Image.Image:
    return jpeg(crop(img, rng), rng)


def identity(img: Image.Image, rng: random.Random) -> Image.Image:
    return img.convert("RGB").copy()


TRANSFORMS: dict[str, Transform] = {
    "exact": identity,
    "crop": crop,
    "resize": resize,
    "jpeg": jpeg,
    "colour": colour,
    "flip": flip,
    "rotate": rotate,
    "blur": blur,
    "text": text,
    "pad": pad,
    "jpeg_crop": jpeg_crop,
}


def apply(name: str, img: Image.Image, seed: int) -> Image.Image:
    """Apply the named transform with its own seeded RNG; result is RGB."""
    return TRANSFORMS[name](img.convert("RGB"), random.Random(seed)).convert("RGB")

"""Safe image loading: every odd layout becomes RGB or a typed error with the reason, never a traceback.

Handles corrupt/truncated files, CMYK, 16-bit, palette and alpha images (composited on white),
animated images (first frame, recorded), and files that are not images at all.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from audit.errors import ImageError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"}
#: Decompression-bomb guard: images above this many pixels are refused.
MAX_PIXELS = 100_000_000


@dataclass(frozen=True)
class LoadedImage:
    image: Image.Image  # RGB
    original_mode: str
    format: str | None
    notes: tuple[str, ...]  # e.g. ("alpha composited on white", "animated: first of 12 frames")


def is_image_path(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def _to_rgb(img: Image.Image, notes: list[str]) -> Image.Image:
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        hi = arr.max() if arr.size else 1.0
        scale = 255.0 / (65535.0 if hi > 255 else max(hi, 1.0))
        img = Image.fromarray(np.clip(arr * scale, 0, 255).astype(np.uint8), "L")
        notes.append(f"{mode} rescaled to 8-bit")
    if img.mode == "P":
        img = img.convert("RGBA") if "transparency" in img.info else img.convert("RGB")
    if img.mode in ("RGBA", "LA", "PA"):
        rgba = img.convert("RGBA")
        extrema: tuple[tuple[int, int], ...] = rgba.getextrema()  # type: ignore[assignment]
        if extrema[3][0] < 255:
            notes.append("alpha composited on white")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    if img.mode == "CMYK":
        notes.append("CMYK converted to RGB")
    return img.convert("RGB") if img.mode != "RGB" else img


def load_image(source: str | Path | bytes) -> LoadedImage:
    """Decode an image file (or bytes) to RGB, applying EXIF orientation."""
    name = "<bytes>" if isinstance(source, bytes) else str(source)
    try:
        fp = io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb")
    except FileNotFoundError:
        raise ImageError(f"{name}: file not found") from None
    except IsADirectoryError:
        raise ImageError(f"{name}: is a directory, not an image") from None
    with fp:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                img: Image.Image = Image.open(fp)
                if img.width * img.height > MAX_PIXELS:
                    raise ImageError(f"{name}: {img.width}x{img.height} is too large", "downscale it first")
                notes: list[str] = []
                n_frames = getattr(img, "n_frames", 1)
                if n_frames > 1:
                    img.seek(0)
                    notes.append(f"animated: first of {n_frames} frames")
                original_mode, fmt = img.mode, img.format
                img.load()
                img = ImageOps.exif_transpose(img) or img
                rgb = _to_rgb(img, notes)
        except ImageError:
            raise
        except UnidentifiedImageError:
            raise ImageError(f"{name}: not a supported image format", "use PNG, JPEG, WebP, GIF, BMP or TIFF") from None
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombWarning) as exc:
            raise ImageError(f"{name}: corrupt or truncated image ({exc})", "re-export or remove the file") from None
    if rgb.width < 1 or rgb.height < 1:
        raise ImageError(f"{name}: empty image")
    return LoadedImage(rgb, original_mode, fmt, tuple(notes))


def load_rgb(source: str | Path | bytes) -> Image.Image:
    return load_image(source).image


def load_upload(data: bytes, name: str) -> Image.Image:
    """Decode uploaded bytes to RGB; errors name the upload (not `<bytes>`) and say which formats work."""
    name = name or "upload"
    hint = "upload a PNG, JPEG, WebP, GIF, BMP or TIFF image"
    if not data:
        raise ImageError(f"{name}: the file is empty", hint)
    try:
        return load_image(data).image
    except ImageError as exc:
        raise ImageError(exc.message.replace("<bytes>", name, 1), exc.hint or hint) from None


def fit_within(img: Image.Image, max_side: int) -> Image.Image:
    """Downscale (never upscale) so the longest side is at most `max_side`."""
    if max(img.size) <= max_side:
        return img
    scale = max_side / max(img.size)
    size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    return img.resize(size, Image.Resampling.LANCZOS)

"""Odd image layouts load as RGB with a note, broken files raise ImageError with the file name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from audit.errors import ImageError
from audit.images import fit_within, load_image


def test_rgba_composited_on_white(tmp_path: Path) -> None:
    p = tmp_path / "a.png"
    arr = np.zeros((8, 8, 4), np.uint8)
    arr[..., 0] = 255  # red, fully transparent except one pixel
    arr[0, 0, 3] = 255
    Image.fromarray(arr, "RGBA").save(p)
    loaded = load_image(p)
    assert loaded.image.mode == "RGB"
    assert loaded.image.getpixel((5, 5)) == (255, 255, 255)
    assert loaded.image.getpixel((0, 0)) == (255, 0, 0)
    assert "alpha composited on white" in loaded.notes


def test_cmyk_and_16bit(tmp_path: Path) -> None:
    cmyk = tmp_path / "c.jpg"
    Image.new("CMYK", (8, 8), (0, 255, 255, 0)).save(cmyk)
    img = load_image(cmyk)
    assert img.original_mode == "CMYK" and img.image.mode == "RGB"
    r, g, b = img.image.getpixel((4, 4))
    assert r > 200 and g < 60 and b < 60
    p16 = tmp_path / "d.png"
    Image.fromarray(np.full((8, 8), 65535, np.uint16)).save(p16)
    img16 = load_image(p16)
    assert img16.image.getpixel((1, 1)) == (255, 255, 255)


def test_animated_gif_takes_first_frame(tmp_path: Path) -> None:
    p = tmp_path / "anim.gif"
    frames = [Image.new("RGB", (8, 8), c) for c in ((255, 0, 0), (0, 0, 255))]
    frames[0].save(p, save_all=True, append_images=frames[1:])
    loaded = load_image(p)
    assert any(n.startswith("animated: first of 2") for n in loaded.notes)
    assert loaded.image.getpixel((1, 1))[0] > 200


def test_truncated_and_non_images(tmp_path: Path) -> None:
    good = tmp_path / "g.jpg"
    Image.new("RGB", (64, 64), (10, 200, 10)).save(good, quality=95)
    data = good.read_bytes()
    trunc = tmp_path / "t.jpg"
    trunc.write_bytes(data[: len(data) // 3])
    with pytest.raises(ImageError, match="t.jpg"):
        load_image(trunc)
    txt = tmp_path / "x.jpg"
    txt.write_text("hello")
    with pytest.raises(ImageError, match="not a supported image"):
        load_image(txt)
    with pytest.raises(ImageError, match="not found"):
        load_image(tmp_path / "missing.png")


def test_fit_within_never_upscales() -> None:
    assert fit_within(Image.new("RGB", (40, 20)), 64).size == (40, 20)
    assert fit_within(Image.new("RGB", (400, 200)), 100).size == (100, 50)


def _png_bytes(size=(40, 30), colour=(200, 10, 10)) -> bytes:
    import io

    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "PNG")
    return buf.getvalue()


def test_load_upload_decodes_images_and_names_bad_files() -> None:
    from audit.images import load_upload

    img = load_upload(_png_bytes((40, 30)), "cat.png")
    assert img.mode == "RGB" and img.size == (40, 30)
    with pytest.raises(ImageError) as e:
        load_upload(b"this is a text file, not a picture", "notes.png")
    assert e.value.message.startswith("notes.png:") and "<bytes>" not in e.value.message
    assert e.value.hint
    with pytest.raises(ImageError, match="empty"):
        load_upload(b"", "zero.jpg")
    with pytest.raises(ImageError, match="truncated"):
        load_upload(_png_bytes((64, 64))[:80], "cut.png")

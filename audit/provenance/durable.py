"""Prepare an image for durable stamping: embed the watermark, re-encode, check it reads back,
fingerprint it, and build the `c2pa.soft-binding` assertions that name method and value."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audit.errors import ProvenanceError
from audit.provenance import watermark as wm
from audit.provenance.fingerprint import Fingerprint, fingerprint
from audit.provenance.local_features import LocalFeatures, extract

FINGERPRINT_ALG = "org.genaudit.phash-dhash.v1"
_SAVE = {"image/png": ("PNG", {}), "image/jpeg": ("JPEG", {"quality": 95}), "image/webp": ("WEBP", {"lossless": True})}


@dataclass(frozen=True)
class Prepared:
    data: bytes  # encoded watermarked image, ready to sign
    wm_id: str
    width: int
    height: int
    fingerprint: Fingerprint
    readback_errors: int  # bit errors reading the mark back from `data` (0 expected; flat images may lose it)
    psnr: float
    assertions: tuple[dict, ...]
    local: LocalFeatures  # ORB keypoints for crop-tolerant recovery (kept in the store, not in the manifest)


def check_durable_size(path: Path) -> None:
    from PIL import Image

    with Image.open(path) as img:
        wm.check_size(img.width, img.height, str(path))


def upscale_for_mark(img, name: str = "<image>"):
    """(image, c2pa.resized action or None): an image below the mark's minimum size, e.g. a 32 px generator
    sample, is Lanczos-upscaled so its short side is wm.MIN_SIDE; the action records that it was."""
    from PIL import Image

    w, h = img.size
    if min(w, h) >= wm.MIN_SIDE:
        return img, None
    s = wm.MIN_SIDE / min(w, h)
    size = (max(wm.MIN_SIDE, round(w * s)), max(wm.MIN_SIDE, round(h * s)))
    action = {"action": "c2pa.resized", "parameters": {
        "description": f"{name}: upscaled {w}x{h} → {size[0]}x{size[1]} (Lanczos) to carry the durable watermark",
        "from": [w, h], "to": list(size), "method": "lanczos"}}
    return img.convert("RGB").resize(size, Image.Resampling.LANCZOS), action


def soft_binding(alg: str, value: bytes) -> dict:
    return {"label": "c2pa.soft-binding",
            "data": {"alg": alg, "blocks": [{"scope": {}, "value": base64.b64encode(value).decode()}]}}


def encode(rgb: np.ndarray, mime: str) -> bytes:
    from PIL import Image

    fmt, opts = _SAVE[mime]
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, fmt, **opts)
    return buf.getvalue()


def prepare_durable(data: bytes, mime: str, name: str, store) -> Prepared:
    """Watermark `data` with an id not yet in `store`; raise ImageError if the image is too small."""
    from audit.images import load_image

    rgb = np.asarray(load_image(data).image, dtype=np.uint8)
    h, w = rgb.shape[:2]
    wm.check_size(w, h, name)
    for _ in range(8):
        wm_id = wm.new_id()
        if not store.has(wm_id):
            break
    else:  # 40-bit ids: practically unreachable
        raise ProvenanceError(f"{store.directory}: could not draw an unused watermark id")
    marked = wm.embed(rgb, wm_id, name)
    out = encode(marked, mime)
    decoded = np.asarray(load_image(out).image, dtype=np.uint8)
    readout = wm.read(decoded)
    errors = wm.NBITS if readout is None else wm.bit_errors(readout.bits, wm_id)
    fp = fingerprint(decoded)
    fp_bytes = fp.phash.to_bytes(8, "big") + fp.dhash.to_bytes(8, "big")
    assertions = (soft_binding(wm.ALG, bytes.fromhex(wm_id)), soft_binding(FINGERPRINT_ALG, fp_bytes))
    return Prepared(out, wm_id, w, h, fp, errors, float(wm.psnr(rgb, decoded)), assertions, extract(decoded))

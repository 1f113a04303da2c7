"""Prepare an image for durable stamping: embed the watermark, re-encode, check it reads back,
fingerprint it, and build the `c2pa.soft-binding` assertions that name method and value."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from audit.errors import ImageError, ProvenanceError
from audit.images import load_image
from audit.provenance import watermark as wm
from audit.provenance.fingerprint import Fingerprint, fingerprint
from audit.provenance.local_features import MIN_INLIERS, LocalFeatures, extract

FINGERPRINT_ALG = "org.genaudit.phash-dhash.v1"
_SAVE: dict[str, tuple[str, dict[str, Any]]] = {
    "image/png": ("PNG", {}), "image/jpeg": ("JPEG", {"quality": 95}), "image/webp": ("WEBP", {"lossless": True})}


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


FLAT_STD = 2.0  # grey std (0–255) at 64×64 below which an image is one plain colour


class CannotMark(ImageError):
    """The image cannot carry durable provenance (too small, flat): a batch skips it and says why."""


def check_durable_size(path: Path) -> None:
    with Image.open(path) as img:
        try:
            wm.check_size(img.width, img.height, str(path))
        except ImageError as exc:
            raise CannotMark(exc.message, exc.hint) from None


def durable_input(path: Path, mime: str, upscale_small: bool) -> tuple[bytes | None, tuple[dict, ...]]:
    """(bytes to sign instead of the file's, extra c2pa actions): nothing to change for a large enough image;
    with `upscale_small` an image under the mark's minimum is Lanczos-upscaled and the c2pa.resized action
    recording it is returned; without it such an image raises CannotMark."""
    try:
        img = Image.open(path)
    except Exception:  # unreadable: stamping reports it as a corrupt image
        return None, ()
    with img:
        if min(img.size) >= wm.MIN_SIDE:
            return None, ()
        if not upscale_small:
            check_durable_size(path)
        img.load()
        big, action = upscale_for_mark(img.convert("RGB"), path.name)
    return encode(np.asarray(big, dtype=np.uint8), mime), (action,)


def _check_not_flat(rgb: np.ndarray, name: str) -> None:
    import cv2

    grey = cv2.resize(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), (64, 64), interpolation=cv2.INTER_AREA)
    std = float(grey.std())
    if std < FLAT_STD:
        raise CannotMark(f"{name}: flat (one plain colour, grey std {std:.1f} < {FLAT_STD}): nothing for a watermark, "
                         "fingerprint or local features to hold on to", "stamp it without --durable")


def upscale_for_mark(img, name: str = "<image>"):
    """(image, c2pa.resized action or None): an image below the mark's minimum size, e.g. a 32 px generator
    sample, is Lanczos-upscaled so its short side is wm.MIN_SIDE; the action records that it was."""
    w, h = img.size
    if min(w, h) >= wm.MIN_SIDE:
        return img, None
    s = wm.MIN_SIDE / min(w, h)
    size = (max(wm.MIN_SIDE, round(w * s)), max(wm.MIN_SIDE, round(h * s)))
    action = {"action": "c2pa.resized", "parameters": {
        "description": f"{name}: upscaled {w}x{h} → {size[0]}x{size[1]} (Lanczos) to carry the durable watermark",
        # sizes as maps: c2pa writes a JSON list of small ints as a CBOR byte string (256 became 0)
        "from": {"width": w, "height": h}, "to": {"width": size[0], "height": size[1]}, "method": "lanczos"}}
    return img.convert("RGB").resize(size, Image.Resampling.LANCZOS), action


def soft_binding(alg: str, value: bytes) -> dict:
    return {"label": "c2pa.soft-binding",
            "data": {"alg": alg, "blocks": [{"scope": {}, "value": base64.b64encode(value).decode()}]}}


def encode(rgb: np.ndarray, mime: str) -> bytes:
    fmt, opts = _SAVE[mime]
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, fmt, **opts)
    return buf.getvalue()


def prepare_durable(data: bytes, mime: str, name: str, store) -> Prepared:
    """Watermark `data` with an id not yet in `store`; raise CannotMark if the image is too small or flat."""
    rgb = np.asarray(load_image(data).image, dtype=np.uint8)
    h, w = rgb.shape[:2]
    try:
        wm.check_size(w, h, name)
    except ImageError as exc:
        raise CannotMark(exc.message, exc.hint) from None
    _check_not_flat(rgb, name)
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
    local = extract(decoded)
    if errors > wm.MAX_BIT_ERRORS and not fp.informative and len(local.keypoints) < 2 * MIN_INLIERS:
        raise CannotMark(f"{name}: nearly flat: the mark reads back with {errors}/64 bit errors, the fingerprint is "
                         f"uninformative and it has {len(local.keypoints)} keypoints: nothing durable would survive",
                         "stamp it without --durable")
    fp_bytes = fp.phash.to_bytes(8, "big") + fp.dhash.to_bytes(8, "big")
    assertions = (soft_binding(wm.ALG, bytes.fromhex(wm_id)), soft_binding(FINGERPRINT_ALG, fp_bytes))
    return Prepared(out, wm_id, w, h, fp, errors, float(wm.psnr(rgb, decoded)), assertions, local)

"""Stamp an uploaded image (bytes) into a folder: the app's publisher flow without temp files of its own.

The upload's name comes from the browser: only its last component is kept, restricted to safe characters, so it
cannot write outside `out_dir` (NOTES: never trust a path from data)."""

from __future__ import annotations

import re
from pathlib import Path

from audit.atomic import atomic_path
from audit.errors import InputError
from audit.provenance.assertions import MIME_TYPES
from audit.provenance.stamp import StampResult, stamp_image


def safe_upload_name(name: str) -> str:
    """`name` reduced to a plain file name inside any folder ("../../x.png" → "x.png"); InputError when its type
    cannot carry Content Credentials."""
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(str(name).replace("\\", "/")).name).lstrip(".") or "upload"
    if Path(base).suffix.lower() not in MIME_TYPES:
        raise InputError(f"{name}: cannot carry Content Credentials", f"upload one of {', '.join(sorted(MIME_TYPES))}")
    return base


def stamp_upload(data: bytes, name: str, out_dir: str | Path, *, ca: str | Path | None = None, durable: bool = False,
                 store: str | Path | None = None, generator: str | Path | None = None) -> StampResult:
    """Keep the upload as out_dir/original/NAME and write its signed copy to out_dir/NAME."""
    safe = safe_upload_name(name)
    out = Path(out_dir)
    (out / "original").mkdir(parents=True, exist_ok=True)
    src = out / "original" / safe
    with atomic_path(src, Path(safe).suffix) as tmp:
        Path(tmp).write_bytes(data)
    return stamp_image(src, out / safe, ca=ca, durable=durable, store=store, generator=generator, overwrite=True)

"""Write a dataset directory: stored image copies, manifest rows, skips and meta.json, all at once.

Every builder (reference, synthetic, ingest) goes through `DatasetWriter`, so the files, hashes,
duplicate handling and the idempotency check are the same everywhere.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from audit.atomic import atomic_dir
from audit.errors import ArtefactError, InputError
from audit.images import fit_within
from audit.meta import INPUTS_SHA256, META_NAME, make_meta, recorded, write_meta
from audit.perceptual import phash_hex
from audit.records import IMAGES_DIRNAME, MANIFEST_NAME, write_manifest

#: Bump when stored images or captions would come out differently for the same inputs.
BUILDER_VERSION = 3
IMAGE_FORMATS = ("jpeg", "png")


def inputs_sha256(inputs: dict[str, Any]) -> str:
    """Stable hash of everything that decides a build's output (parameters, input hashes, versions)."""
    blob = json.dumps({"builder_version": BUILDER_VERSION, **inputs}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def up_to_date(out: Path, fp: str) -> bool:
    """True if `out` already holds a complete dataset built from the same inputs."""
    meta_path = out / META_NAME
    if not (meta_path.is_file() and (out / MANIFEST_NAME).is_file()):
        return False
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return False
    return meta.get("kind") == "dataset" and recorded(meta, INPUTS_SHA256) == fp


def check_out_dir(out: Path, src: Path | None = None) -> None:
    """Refuse to replace something that is not a dataset (or the source itself)."""
    if src is not None and out.resolve() == src.resolve():
        raise InputError(f"--out {out} is the source folder", "write the dataset to a new folder")
    if out.exists() and not out.is_dir():
        raise ArtefactError(f"{out} exists and is not a directory", "choose another --out")
    if out.is_dir() and any(out.iterdir()) and not (out / META_NAME).is_file():
        raise ArtefactError(
            f"{out} is a non-empty folder that is not a genaudit dataset", "choose an empty or new --out folder"
        )


def encode_image(img: Image.Image, fmt: str, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    if fmt == "jpeg":
        img.convert("RGB").save(buf, "JPEG", quality=quality, optimize=True)
    elif fmt == "png":
        img.save(buf, "PNG", optimize=True)
    else:  # pragma: no cover - guarded by the CLI choices
        raise InputError(f"unknown image format {fmt!r}", f"use one of {', '.join(IMAGE_FORMATS)}")
    return buf.getvalue()


@dataclass
class DatasetWriter:
    """Collects rows into a temp dir; `commit()` writes manifest + meta and swaps the dir into place."""

    tmp: Path
    max_side: int
    image_format: str = "jpeg"
    keep_duplicates: bool = False
    rows: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    notes: list[dict[str, str]] = field(default_factory=list)
    _by_hash: dict[str, str] = field(default_factory=dict)
    _keys: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        if self.image_format not in IMAGE_FORMATS:
            raise InputError(f"unknown image format {self.image_format!r}", f"use one of {', '.join(IMAGE_FORMATS)}")
        (self.tmp / IMAGES_DIRNAME).mkdir(parents=True, exist_ok=True)

    def skip(self, file: str, reason: str) -> None:
        self.skipped.append({"file": file, "reason": reason})

    def unique_key(self, key: str) -> str:
        base, n = key, 1
        while key in self._keys:
            n += 1
            key = f"{base}-{n}"
        return key

    def duplicate_of(self, content_sha256: str) -> str | None:
        """Key of an already-added item with the same source bytes, unless duplicates are kept."""
        if self.keep_duplicates:
            return None
        return self._by_hash.get(content_sha256)

    def add(
        self,
        key: str,
        img: Image.Image,
        *,
        caption: str,
        author: str | None,
        license: str | None,
        source: str,
        url: str | None = None,
        content_sha256: str | None = None,
        origin: str | None = None,
        notes: tuple[str, ...] = (),
        image_format: str | None = None,
        **extra: Any,
    ) -> str | None:
        """Store `img` (downscaled) under images/ and add its row; returns the key, or None if skipped.

        `content_sha256` identifies the source bytes for exact-duplicate detection (defaults to the
        stored file's hash). `origin` names the input in skip/notes records.
        """
        origin = origin or source
        fmt = image_format or self.image_format
        small = fit_within(img.convert("RGB"), self.max_side)
        data = encode_image(small, fmt)
        stored_sha = hashlib.sha256(data).hexdigest()
        dedup_hash = content_sha256 or stored_sha
        kept = self.duplicate_of(dedup_hash)
        if kept is not None:
            self.skip(origin, f"exact duplicate of {kept}")
            return None
        key = self.unique_key(key)
        rel = f"{IMAGES_DIRNAME}/{key}.{'jpg' if fmt == 'jpeg' else 'png'}"
        (self.tmp / rel).write_bytes(data)
        self._keys.add(key)
        self._by_hash.setdefault(dedup_hash, key)
        for note in notes:
            self.notes.append({"key": key, "file": origin, "note": note})
        self.rows.append(
            {
                "key": key,
                "path": rel,
                "url": url,
                "caption": caption,
                "width": small.width,
                "height": small.height,
                "sha256": stored_sha,
                "phash": phash_hex(small),
                "author": author,
                "license": license,
                "source": source,
                **extra,
            }
        )
        return key

    def commit(self, **meta_fields: Any) -> dict[str, Any]:
        """Write manifest.parquet and meta.json into the temp dir (the caller's atomic_dir swaps it)."""
        import pandas as pd

        if not self.rows:
            reasons = sorted({s["reason"] for s in self.skipped})[:3]
            raise InputError(
                f"no usable images ({len(self.skipped)} skipped{': ' + '; '.join(reasons) if reasons else ''})",
                "check the source folder; skipped files and reasons are listed above",
            )
        df = pd.DataFrame(self.rows)
        write_manifest(df, self.tmp)
        meta = make_meta(
            "dataset",
            count=len(self.rows),
            max_side=self.max_side,
            image_format=self.image_format,
            skipped=self.skipped,
            skipped_count=len(self.skipped),
            notes=self.notes,
            **meta_fields,
        )
        write_meta(self.tmp, meta)
        return meta


@dataclass(frozen=True)
class BuildResult:
    """What a build did: where, how many rows, how many skips, and whether it was already up to date."""

    out: Path
    count: int
    skipped: int
    up_to_date: bool
    meta: dict[str, Any]


def result_from_existing(out: Path) -> BuildResult:
    meta = json.loads((out / META_NAME).read_text(encoding="utf-8"))
    return BuildResult(out, int(meta.get("count", 0)), int(meta.get("skipped_count", 0)), True, meta)


def write_dataset(out: Path, fp: str, fill, *, max_side: int, image_format: str = "jpeg",
                  keep_duplicates: bool = False, **meta_fields: Any) -> BuildResult:
    """Run `fill(writer) -> dict(meta extras)` into a temp dir and swap it into `out` atomically."""
    with atomic_dir(out) as tmp:
        writer = DatasetWriter(tmp, max_side, image_format, keep_duplicates)
        extra = fill(writer) or {}
        meta = writer.commit(inputs_sha256=fp, **meta_fields, **extra)
    return BuildResult(out, meta["count"], meta["skipped_count"], False, meta)

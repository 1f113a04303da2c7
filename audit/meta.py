"""Sidecar meta.json for every artefact: inputs' hashes, model, versions, seed, so results can be traced."""

from __future__ import annotations

import hashlib
import json
import platform
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable, Mapping

from audit import __version__
from audit.atomic import write_json
from audit.errors import ArtefactError

META_NAME = "meta.json"
_TRACKED_PACKAGES = (
    "torch", "open_clip_torch", "faiss-cpu", "imagehash", "pandas", "pyarrow", "numpy",
    "pillow", "diffusers", "c2pa-python", "streamlit",
)


#: The one name of a model's weights hash in every meta.json (and in the generator's text_encoder block).
WEIGHTS_SHA256 = "weights_sha256"
#: The hash of a dataset build's inputs (its idempotency key).
INPUTS_SHA256 = "inputs_sha256"
#: Names older artefacts used for today's keys. Read, never written. Weights hash: index model_fingerprint,
#: generator model_sha256, its text encoder's fingerprint, samples and removal checks model_hash, Content
#: Credentials checkpoint_sha256.
OLD_KEYS: dict[str, tuple[str, ...]] = {
    WEIGHTS_SHA256: ("model_fingerprint", "model_sha256", "model_hash", "checkpoint_sha256", "fingerprint"),
    INPUTS_SHA256: ("input_fingerprint",),
}


def recorded(meta: Mapping[str, Any], key: str) -> Any:
    """meta[key], else its value under an older name of the key (None when absent): shipped checkpoints and
    users' existing datasets, indices, generators and samples keep loading after a rename."""
    for name in (key, *OLD_KEYS.get(key, ())):
        if meta.get(name) not in (None, ""):
            return meta[name]
    return None


def weights_sha256(meta: Mapping[str, Any]) -> str | None:
    """The weights hash a meta.json body (or a generator's text_encoder block) records."""
    value = recorded(meta, WEIGHTS_SHA256)
    return None if value is None else str(value)


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_strings(items: Iterable[str]) -> str:
    """Order-sensitive hash of a sequence of strings (e.g. manifest keys + sha256s)."""
    h = hashlib.sha256()
    for s in items:
        h.update(s.encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()


def package_versions(names: Iterable[str] = _TRACKED_PACKAGES) -> dict[str, str]:
    out = {"python": platform.python_version(), "genaudit": __version__}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def make_meta(kind: str, **fields: Any) -> dict[str, Any]:
    """A meta.json body: what kind of artefact, when, with which software, plus the caller's fields."""
    return {
        "kind": kind,
        "format_version": 1,
        "created_unix": int(time.time()),
        "command": " ".join(sys.argv) if sys.argv else "",
        "versions": package_versions(),
        **fields,
    }


def write_meta(directory: str | Path, meta: dict[str, Any]) -> Path:
    path = Path(directory) / META_NAME
    write_json(path, meta)
    return path


def read_meta(directory: str | Path, kind: str | None = None) -> dict[str, Any]:
    path = Path(directory) / META_NAME
    if not path.is_file():
        raise ArtefactError(f"{path} is missing", "is this a genaudit artefact directory? rebuild it")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArtefactError(f"{path} is not valid JSON ({exc})", "rebuild the artefact") from None
    if kind is not None and meta.get("kind") != kind:
        raise ArtefactError(
            f"{path} describes a '{meta.get('kind')}' artefact, expected '{kind}'",
            "point the command at the right directory",
        )
    if meta.get("format_version", 1) > 1:
        raise ArtefactError(
            f"{path} was written by a newer genaudit (format {meta.get('format_version')})",
            "upgrade genaudit",
        )
    return meta

"""Tombstones: sha256 + perceptual hash of erased images (never the image, caption, name or URL), so a re-crawl
or re-ingest cannot bring an erased item back (NOTES: GDPR requests).

`audit dataset ingest` consults the request database named by $GENAUDIT_REMOVAL_DB (see `from_env`).
"""

from __future__ import annotations

import json
import sqlite3
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from PIL import Image

from audit import config
from audit.errors import InputError
from audit.images import load_rgb
from audit.index.hamming import hash_distance, mirror_hash, near_pairs
from audit.meta import sha256_file
from audit.perceptual import from_hex, mirror, phash_hex, to_hex
from audit.removal.store import connect

#: Frozen thresholds (chosen on the calibration half of benchmarks/tombstone_bench.py; versioned file).
THRESHOLDS_FILE = Path(__file__).with_name("tombstone_thresholds.json")
#: Fractions of the side kept by the stored crops, and where they sit (centre and four corners).
CROP_FRACTIONS = (0.9, 0.8, 0.7)
#: (x, y) of the crop's top-left corner as a fraction of the slack (0 = left/top, 1 = right/bottom): a 3x3 grid.
CROP_ANCHORS = tuple((x, y) for y in (0.0, 0.5, 1.0) for x in (0.0, 0.5, 1.0))


@lru_cache(maxsize=1)
def frozen_thresholds() -> dict[str, Any]:
    return dict(json.loads(THRESHOLDS_FILE.read_text()))


def _default_distance() -> int:
    return int(frozen_thresholds()["phash_distance"])


#: pHash bits within which a new image counts as an erased one (or one of its stored variants) coming back.
TOMBSTONE_PHASH_DISTANCE = _default_distance()


def _crop(img: Image.Image, frac: float, anchor: tuple[float, float]) -> Image.Image:
    w, h = img.size
    cw, ch = max(1, round(w * frac)), max(1, round(h * frac))
    x, y = round((w - cw) * anchor[0]), round((h - ch) * anchor[1])
    return img.crop((x, y, x + cw, y + ch))


def variant_hashes(img: Image.Image) -> list[str]:
    """pHashes (hex) of what a re-crawl may bring back instead of the exact image: the mirror, and centre and corner
    crops (90/80/70 %, at 3x3 positions) of the image and of its
    mirror. Global hashes alone miss flips and crops (NOTES)."""
    out: list[str] = []
    for base in (img, mirror(img)):
        if base is not img:
            out.append(phash_hex(base))
        for frac in CROP_FRACTIONS:
            for anchor in CROP_ANCHORS:
                out.append(phash_hex(_crop(base, frac, anchor)))
    return list(dict.fromkeys(out))


def _is_sha(s: str) -> bool:
    return len(s) == 64 and all(c in "0123456789abcdef" for c in s.lower())


@dataclass(frozen=True)
class Tombstones:
    """All tombstones of one request database, loaded once (ingest checks many images). `phashes` holds every
    stored code — the image's own pHash and its variants (`variant_hashes`) — with its request id."""

    by_sha: dict[str, int]
    phashes: tuple[tuple[int, int], ...]  # (phash as int, request id)
    max_distance: int = TOMBSTONE_PHASH_DISTANCE
    _codes: np.ndarray = field(init=False, repr=False, compare=False)
    _rids: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # One vectorised popcount over all tombstones per image instead of a Python loop over them.
        object.__setattr__(self, "_codes", np.array([v & 0xFFFF_FFFF_FFFF_FFFF for v, _ in self.phashes], dtype=np.uint64))
        object.__setattr__(self, "_rids", np.array([r for _, r in self.phashes], dtype=np.int64))

    def check(self, path_or_sha: str | Path, sha256: str | None = None) -> str | None:
        """Why this image (file, or bare sha256 hex) must not come back, or None."""
        s = str(path_or_sha)
        if _is_sha(s) and not Path(s).exists():
            rid = self.by_sha.get(s.lower())
            return f"sha256 erased under request #{rid}" if rid is not None else None
        path = Path(s)
        if not path.is_file():
            raise InputError(f"{path} does not exist", "pass an image file or a sha256")
        why = self.reason(sha256 or sha256_file(path))
        if why is not None or not self.phashes:
            return why
        return self.reason(None, phash_hex(load_rgb(path)))

    def reason(self, sha256: str | None, phash: str | int | None = None) -> str | None:
        """The rule itself, on hashes already computed (sha256 of the source bytes, `phash_hex` of the decoded
        image, as the manifest's `phash` column): exact sha256, else pHash within `max_distance` of a stored code.
        Pure, so Spark executors apply it to broadcast tombstones."""
        rid = self.by_sha.get(sha256.lower()) if sha256 else None
        if rid is not None:
            return f"sha256 erased under request #{rid}"
        if phash is None or phash == "" or not self.phashes:
            return None
        try:
            ph = phash & 0xFFFF_FFFF_FFFF_FFFF if isinstance(phash, int) else from_hex(phash)
        except ValueError:
            return None
        dist = hash_distance(self._codes, ph)
        i = int(dist.argmin())
        if dist[i] <= self.max_distance:
            return f"perceptual hash within {int(dist[i])} bits of an image erased under request #{int(self._rids[i])}"
        return None

    def reasons(self, sha256: Sequence[Any], phashes: np.ndarray) -> list[str | None]:
        """`reason` for many rows at once (index build, rebuild): exact multi-index Hamming join of the rows' pHashes
        (uint64, 0 = none) against every stored code (audit.index.hamming.near_pairs), no scan over all pairs."""
        out: list[str | None] = [self.reason(str(s) if s is not None else None) for s in sha256]
        codes = np.asarray(phashes, dtype=np.uint64)
        if not len(self._codes) or not len(codes):
            return out
        pairs = near_pairs(codes, self._codes, self.max_distance)
        best: dict[int, tuple[int, int]] = {}
        for i, j, d in zip(pairs.i.tolist(), pairs.j.tolist(), pairs.distance.tolist()):
            if codes[i] and (i not in best or d < best[i][0]):
                best[i] = (int(d), int(self._rids[j]))
        for i, (d, rid) in best.items():
            if out[i] is None:
                out[i] = f"perceptual hash within {d} bits of an image erased under request #{rid}"
        return out


def load_tombstones(conn: sqlite3.Connection, max_distance: int = TOMBSTONE_PHASH_DISTANCE) -> Tombstones:
    """Every tombstone of `conn`: sha256s, pHashes and the stored variants' pHashes (schema 3; older rows get the
    pHash's approximate mirror, audit.index.hamming.mirror_hash)."""
    by_sha: dict[str, int] = {}
    ph: list[tuple[int, int]] = []
    has_variants = "variants" in {r[1] for r in conn.execute("PRAGMA table_info(tombstones)")}
    sql = f"SELECT sha256, phash, request_id, {'variants' if has_variants else 'NULL'} FROM tombstones"
    for sha, p, rid, variants in conn.execute(sql):
        by_sha[str(sha).lower()] = int(rid)
        try:
            codes = [from_hex(p)] if p else []
            extra = json.loads(variants) if variants else ([to_hex(int(mirror_hash(codes[0])))] if codes else [])
            codes += [from_hex(v) for v in extra]
        except (ValueError, TypeError):
            continue
        ph.extend((c, int(rid)) for c in dict.fromkeys(codes))
    return Tombstones(by_sha, tuple(ph), max_distance)


def is_tombstoned(conn: sqlite3.Connection, path_or_sha: str | Path,
                  max_distance: int = TOMBSTONE_PHASH_DISTANCE) -> str | None:
    """Why an image (file path or sha256 hex) must not be ingested again, or None."""
    return load_tombstones(conn, max_distance).check(path_or_sha)


def resolve(db: str | Path | Tombstones | None, enforce: bool, what: str) -> Tombstones | None:
    """The tombstones a command must enforce: those of `db` (default $GENAUDIT_REMOVAL_DB; already loaded ones pass
    through) unless the caller opted out (`--no-tombstones`), which is logged on stderr: erased images may come back."""
    if not enforce:
        print(f"warning: {what}: removal tombstones NOT enforced (--no-tombstones); erased images may come back",
              file=sys.stderr)
        return None
    return db if isinstance(db, Tombstones) else from_env(db)


def describe(t: Tombstones | None, enforce: bool, refused: int) -> dict[str, Any]:
    """What an artefact's meta.json records about the tombstones it was checked against."""
    if not enforce:
        return {"enforced": False, "why": "--no-tombstones"}
    if t is None:
        return {"enforced": False, "why": f"no removal database configured ({config.ENV_REMOVAL_DB} / --removal-db)"}
    return {"enforced": True, "tombstones": len(t.by_sha), "codes": len(t.phashes), "max_distance": t.max_distance,
            "refused": int(refused), "thresholds_version": frozen_thresholds().get("version")}


def from_env(db: str | Path | None = None) -> Tombstones | None:
    """Tombstones of `db` (default $GENAUDIT_REMOVAL_DB), or None when neither is set (nothing filtered)."""
    db = db or config.removal_db_from_env()
    if not db:
        return None
    if not Path(db).is_file():
        raise InputError(f"removal database {db} does not exist", f"pass --removal-db requests.db or unset {config.ENV_REMOVAL_DB}")
    conn = connect(db)
    try:
        return load_tombstones(conn)
    finally:
        conn.close()

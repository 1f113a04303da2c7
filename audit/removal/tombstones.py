"""Tombstones: sha256 + perceptual hash of erased images (never the image, caption, name or URL), so a re-crawl
or re-ingest cannot bring an erased item back (NOTES: GDPR requests).

`audit dataset ingest` consults the request database named by $GENAUDIT_REMOVAL_DB (see `from_env`).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from audit import config
from audit.errors import InputError
from audit.images import load_rgb
from audit.index.hamming import hash_distance
from audit.meta import sha256_file
from audit.perceptual import from_hex, phash_hex
from audit.removal.store import connect

#: pHash bits within which a new image counts as the erased one coming back (re-encoded, resized).
TOMBSTONE_PHASH_DISTANCE = 4


def _is_sha(s: str) -> bool:
    return len(s) == 64 and all(c in "0123456789abcdef" for c in s.lower())


@dataclass(frozen=True)
class Tombstones:
    """All tombstones of one request database, loaded once (ingest checks many images)."""

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
        image, as the manifest's `phash` column): exact sha256, else pHash within `max_distance`. Pure, so Spark
        executors apply it to broadcast tombstones."""
        rid = self.by_sha.get(sha256.lower()) if sha256 else None
        if rid is not None:
            return f"sha256 erased under request #{rid}"
        if phash is None or phash == "" or not self.phashes:
            return None

        ph = phash & 0xFFFF_FFFF_FFFF_FFFF if isinstance(phash, int) else from_hex(phash)
        dist = hash_distance(self._codes, ph)
        i = int(dist.argmin())
        if dist[i] <= self.max_distance:
            return f"perceptual hash within {int(dist[i])} bits of an image erased under request #{int(self._rids[i])}"
        return None


def load_tombstones(conn: sqlite3.Connection, max_distance: int = TOMBSTONE_PHASH_DISTANCE) -> Tombstones:
    by_sha, ph = {}, []
    for sha, p, rid in conn.execute("SELECT sha256, phash, request_id FROM tombstones"):
        by_sha[str(sha).lower()] = int(rid)
        try:
            if p:
                ph.append((from_hex(p), int(rid)))
        except ValueError:
            continue
    return Tombstones(by_sha, tuple(ph), max_distance)


def is_tombstoned(conn: sqlite3.Connection, path_or_sha: str | Path,
                  max_distance: int = TOMBSTONE_PHASH_DISTANCE) -> str | None:
    """Why an image (file path or sha256 hex) must not be ingested again, or None."""
    return load_tombstones(conn, max_distance).check(path_or_sha)


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

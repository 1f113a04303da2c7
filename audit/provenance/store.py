"""Local manifest store: the signed copy of every durable-stamped image, findable by watermark id
and by perceptual fingerprint once the image in the wild has lost its manifest.

Layout: DIR/store.sqlite (one row per id, written in a transaction after the files are in place),
DIR/signed/<id><ext> (the signed image: c2pa re-verifies the manifest against it), DIR/manifests/<id>.json
(the manifest store as c2pa read it at stamping time, for people and other tools), DIR/meta.json.

Schema 2 adds `local_features` (ORB keypoints + descriptors per entry, for crop-tolerant recovery).
A schema-1 store is migrated in place on open (the table is added, old rows keep no features: recovery
says so, and `audit provenance store-features` computes them from the stored signed copies).
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import numpy as np

from audit import config
from audit.atomic import atomic_path
from audit.errors import ArtefactError, ImageError, RegistryError
from audit.images import load_image
from audit.meta import make_meta, sha256_bytes, write_meta
from audit.perceptual import from_int64, to_int64
from audit.progress import track
from audit.provenance.assertions import MIME_TYPES
from audit.provenance.fingerprint import Fingerprint
from audit.provenance.local_features import ALG, LocalFeatures, extract

if TYPE_CHECKING:
    from audit.provenance.local_features import LocalFeatures

DEFAULT_STORE_DIR = config.CACHE_DIR / "manifest-store"
DB_NAME = "store.sqlite"
SCHEMA_VERSION = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    wm_id TEXT PRIMARY KEY, signed_file TEXT NOT NULL, manifest_file TEXT NOT NULL, signed_sha256 TEXT NOT NULL,
    mime TEXT NOT NULL, width INTEGER NOT NULL, height INTEGER NOT NULL, phash INTEGER NOT NULL,
    dhash INTEGER NOT NULL, readback_errors INTEGER, psnr REAL, title TEXT, created REAL NOT NULL);
CREATE INDEX IF NOT EXISTS entries_size ON entries(width, height);
CREATE TABLE IF NOT EXISTS local_features (
    wm_id TEXT PRIMARY KEY REFERENCES entries(wm_id), alg TEXT NOT NULL, work_width INTEGER NOT NULL,
    work_height INTEGER NOT NULL, keypoints BLOB NOT NULL, descriptors BLOB NOT NULL);
"""


@dataclass(frozen=True)
class Entry:
    """One stored image: where its signed copy is and what it looked like when stamped."""

    store: Path
    wm_id: str
    signed_file: str
    manifest_file: str
    signed_sha256: str
    mime: str
    width: int
    height: int
    fingerprint: Fingerprint
    readback_errors: int | None
    psnr: float | None
    title: str | None

    @property
    def signed_path(self) -> Path:
        return self.store / self.signed_file

    @property
    def manifest_path(self) -> Path:
        return self.store / self.manifest_file


class ManifestStore:
    """Open (creating if needed) a store directory. Use as a context manager or call close()."""

    def __init__(self, directory: str | Path | None = None, *, create: bool = True):
        self.directory = Path(directory) if directory is not None else DEFAULT_STORE_DIR
        db = self.directory / DB_NAME
        if not db.is_file():
            if not create:
                raise ArtefactError(f"{self.directory}: no manifest store here ({DB_NAME} missing)",
                                    "stamp with --durable --store DIR first, or pass the right --store")
            self.directory.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(db, timeout=30)
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                self._db.close()
                raise RegistryError(f"{db}: made by a newer genaudit (schema {version})", "upgrade genaudit")
            if version < SCHEMA_VERSION:  # new store, or schema 1 → 2: tables are only added, rows kept
                self._db.executescript(f"BEGIN; {_SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;")
            self.migrated_from = version if 0 < version < SCHEMA_VERSION else None
        except sqlite3.DatabaseError as exc:
            raise RegistryError(f"{db}: not a usable SQLite store ({exc})", "restore it or use another --store") from None
        if not (self.directory / "meta.json").is_file():
            write_meta(self.directory, make_meta("manifest-store", schema_version=SCHEMA_VERSION))

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "ManifestStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def has(self, wm_id: str) -> bool:
        return self._db.execute("SELECT 1 FROM entries WHERE wm_id = ?", (wm_id,)).fetchone() is not None

    def add(self, wm_id: str, signed: bytes, manifest_json: dict, *, mime: str, width: int, height: int,
            fp: Fingerprint, readback_errors: int | None, psnr: float | None, title: str | None,
            local: LocalFeatures | None = None) -> Entry:
        """Files first (temp then rename), then the row in one transaction: a crash leaves no dangling row."""
        if self.has(wm_id):
            raise ArtefactError(f"{self.directory}: watermark id {wm_id} is already stored", "stamp again for a new id")
        ext = next(e for e, m in MIME_TYPES.items() if m == mime)
        signed_rel, manifest_rel = f"signed/{wm_id}{ext}", f"manifests/{wm_id}.json"
        for rel, data in ((signed_rel, signed), (manifest_rel, json.dumps(manifest_json, indent=1).encode())):
            (self.directory / rel).parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(self.directory / rel, suffix=Path(rel).suffix) as tmp:
                tmp.write_bytes(data)
        row = (wm_id, signed_rel, manifest_rel, sha256_bytes(signed), mime, width, height, to_int64(fp.phash),
               to_int64(fp.dhash), readback_errors, psnr, title, time.time())
        with self._db:
            self._db.execute("INSERT INTO entries VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", row)
            if local is not None:
                self._put_local(wm_id, local)
        entry = self.get(wm_id)
        assert entry is not None  # inserted just above
        return entry

    def _put_local(self, wm_id: str, local: LocalFeatures) -> None:
        self._db.execute("INSERT OR REPLACE INTO local_features VALUES (?,?,?,?,?,?)",
                         (wm_id, ALG, local.width, local.height, *local.to_blobs()))

    def set_local_features(self, wm_id: str, local: LocalFeatures) -> None:
        """Store (or replace) one entry's local features in its own transaction."""
        with self._db:
            self._put_local(wm_id, local)

    def local_features(self) -> Iterator[tuple[str, LocalFeatures]]:
        """(wm_id, features) of every entry whose features were made with the current detector settings."""
        rows = self._db.execute("SELECT wm_id, work_width, work_height, keypoints, descriptors FROM local_features "
                                "WHERE alg = ?", (ALG,))
        for wm_id, w, h, kps, desc in rows:
            yield wm_id, LocalFeatures.from_blobs(w, h, kps, desc)

    def missing_local_features(self) -> list[str]:
        """Entries without current local features (stamped before schema 2, or with older detector settings)."""
        return [r[0] for r in self._db.execute(
            "SELECT wm_id FROM entries WHERE wm_id NOT IN (SELECT wm_id FROM local_features WHERE alg = ?) "
            "ORDER BY wm_id", (ALG,))]

    def _entry(self, row) -> Entry:
        return Entry(self.directory, row[0], row[1], row[2], row[3], row[4], row[5], row[6],
                     Fingerprint(from_int64(row[7]), from_int64(row[8])), row[9], row[10], row[11])

    _COLS = ("wm_id, signed_file, manifest_file, signed_sha256, mime, width, height, phash, dhash, "
             "readback_errors, psnr, title")

    def get(self, wm_id: str) -> Entry | None:
        row = self._db.execute(f"SELECT {self._COLS} FROM entries WHERE wm_id = ?", (wm_id,)).fetchone()
        return None if row is None else self._entry(row)

    def entries(self) -> Iterator[Entry]:
        for row in self._db.execute(f"SELECT {self._COLS} FROM entries"):
            yield self._entry(row)

    def backfill_local_features(self) -> tuple[int, list[str]]:
        """Compute missing local features from the stored signed copies (same pixels as at stamping time).
        Returns (entries filled, entries skipped because their signed copy is missing or unreadable)."""
        todo, skipped, done = self.missing_local_features(), [], 0
        for wm_id in track(todo, desc="local features", total=len(todo), unit="img"):
            entry = self.get(wm_id)
            assert entry is not None  # listed by missing_local_features
            try:
                rgb = np.asarray(load_image(entry.signed_path.read_bytes()).image, dtype=np.uint8)
            except (OSError, ImageError):
                skipped.append(wm_id)
                continue
            self.set_local_features(wm_id, extract(rgb))
            done += 1
        return done, skipped

    def sizes(self) -> list[tuple[int, int]]:
        """Distinct stamped sizes: a resized query is scaled back to these before reading the mark."""
        return [tuple(r) for r in self._db.execute("SELECT DISTINCT width, height FROM entries")]

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM entries").fetchone()[0]

"""The opt-out registry: one SQLite file of who opted out of what, with an append-only change log.

Entries name an artist (plus aliases), a URL, a URL prefix, a domain, a sha256, a perceptual hash,
or an example image (kept only as its hashes and CLIP embedding, never the pixels). Each carries
source, date received, scope (ai-training, all-tdm, ...) and evidence. Every write runs in a
`BEGIN IMMEDIATE` transaction with a busy timeout, so concurrent writers queue instead of losing
data; the schema version lives in `PRAGMA user_version` and a newer file is refused.
"""

from __future__ import annotations

import datetime as _dt
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from audit.errors import InputError, RegistryError
from audit.images import load_rgb
from audit.meta import sha256_file, sha256_strings
from audit.optout import normalise as N
from audit.perceptual import phash_hex

SCHEMA_VERSION = 1
BUSY_TIMEOUT_MS = 30_000
KINDS = ("artist", "url", "url_prefix", "domain", "sha256", "phash", "image")
#: Scopes an entry may carry; `covers()` says which purposes each one forbids.
SCOPES = ("all", "all-tdm", "ai-training", "genai-training", "ai-training-images", "ml", "ai-input", "search")
DEFAULT_SCOPE = "ai-training"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    value TEXT NOT NULL,          -- canonical form used for matching
    display TEXT NOT NULL,        -- as given
    aliases TEXT NOT NULL DEFAULT '[]',
    artist TEXT,                  -- for image entries: whose example it is
    phash TEXT,
    embedding BLOB,               -- float32 CLIP embedding of an example image
    embed_model TEXT,
    source TEXT NOT NULL DEFAULT '',
    received TEXT NOT NULL,
    scope TEXT NOT NULL,
    evidence TEXT NOT NULL DEFAULT '',
    active INTEGER NOT NULL DEFAULT 1,
    UNIQUE(kind, value, scope)
);
CREATE INDEX IF NOT EXISTS entries_kind ON entries(kind, active);
CREATE TABLE IF NOT EXISTS log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    action TEXT NOT NULL,
    entry_id INTEGER,
    payload TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS log_no_update BEFORE UPDATE ON log
    BEGIN SELECT RAISE(ABORT, 'the opt-out log is append-only'); END
;
CREATE TRIGGER IF NOT EXISTS log_no_delete BEFORE DELETE ON log
    BEGIN SELECT RAISE(ABORT, 'the opt-out log is append-only'); END
"""


@dataclass(frozen=True)
class Entry:
    id: int
    kind: str
    value: str
    display: str
    aliases: tuple[str, ...]
    scope: str
    source: str
    received: str
    evidence: str
    active: bool = True
    artist: str | None = None
    phash: str | None = None


@dataclass(frozen=True)
class ImportSummary:
    added: int
    duplicates: int
    rejected: tuple[tuple[int, str], ...]  # (line/record number, reason)


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def canonical_value(kind: str, value: str) -> str:
    """The matching key of a registry value, or InputError explaining why it is unusable."""
    v = (value or "").strip()
    if kind not in KINDS:
        raise InputError(f"unknown entry kind '{kind}'", f"use one of {', '.join(KINDS)}")
    if not v:
        raise InputError(f"empty {kind} value")
    if kind == "artist":
        toks = N.name_tokens(v)
        if not toks:
            raise InputError(f"artist name '{value}' has no letters or digits")
        return " ".join(toks)
    if kind == "url":
        key = N.url_key(v)
    elif kind == "url_prefix":
        key = N.prefix_key(v)
    elif kind == "domain":
        key = N.domain_key(v)
    elif kind in ("sha256", "image"):
        key = v.lower() if len(v) == 64 and all(c in "0123456789abcdefABCDEF" for c in v) else None
    else:  # phash
        codes, ok = N.hex_to_uint64([v])
        key = f"{int(codes[0]):016x}" if ok[0] else None
    if key is None:
        raise InputError(f"'{value}' is not a valid {kind}", _HINTS[kind])
    return key


_HINTS = {
    "url": "give an absolute URL such as https://example.com/a.jpg",
    "url_prefix": "give an absolute URL prefix such as https://example.com/gallery/",
    "domain": "give a host name such as example.com",
    "sha256": "give 64 hex digits",
    "image": "give 64 hex digits",
    "phash": "give a 64-bit perceptual hash as 16 hex digits",
}


class Registry:
    """An open registry file. Use as a context manager; every write is its own transaction."""

    def __init__(self, path: str | Path, create: bool = True):
        self.path = Path(path)
        if not self.path.exists() and not create:
            raise RegistryError(f"no registry at {self.path}", "create one with `audit optout add ... --registry FILE`")
        if self.path.is_dir():
            raise RegistryError(f"{self.path} is a directory, not a registry file")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
            self.conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise RegistryError(f"{self.path} is not a usable SQLite registry ({exc})", "check the path or restore a backup") from None
        if version > SCHEMA_VERSION:
            self.conn.close()
            raise RegistryError(
                f"{self.path} has registry schema version {version}; this genaudit understands up to {SCHEMA_VERSION}",
                "upgrade genaudit; the file was left untouched",
            )
        if version < SCHEMA_VERSION:
            with self._write():
                if self.conn.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
                    for stmt in _SCHEMA.split(";\n"):
                        if stmt.strip():
                            self.conn.execute(stmt)
                    self.conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        try:
            self.conn.execute("PRAGMA journal_mode=WAL")
        except sqlite3.OperationalError:
            pass  # another process holds it; WAL is an optimisation only

    # -- plumbing -------------------------------------------------------
    def __enter__(self) -> "Registry":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self.conn.close()

    def _write(self):
        reg = self

        class _Tx:
            def __enter__(self_inner):
                try:
                    reg.conn.execute("BEGIN IMMEDIATE")
                except sqlite3.OperationalError as exc:
                    raise RegistryError(f"{reg.path} is locked by another writer ({exc})", "retry in a moment") from None
                return reg.conn

            def __exit__(self_inner, et, ev, tb):
                if et is None:
                    reg.conn.execute("COMMIT")
                else:
                    reg.conn.execute("ROLLBACK")
                return False

        return _Tx()

    def _log(self, action: str, entry_id: int | None, payload: dict[str, Any]) -> None:
        self.conn.execute(
            "INSERT INTO log(at, action, entry_id, payload) VALUES (?,?,?,?)",
            (_now(), action, entry_id, json.dumps(payload, sort_keys=True, ensure_ascii=False)),
        )

    # -- writes ---------------------------------------------------------
    def _insert(self, rec: dict[str, Any]) -> tuple[int, bool]:
        cur = self.conn.execute(
            "INSERT OR IGNORE INTO entries(kind,value,display,aliases,artist,phash,embedding,embed_model,source,received,scope,evidence)"
            " VALUES (:kind,:value,:display,:aliases,:artist,:phash,:embedding,:embed_model,:source,:received,:scope,:evidence)",
            rec,
        )
        if cur.rowcount == 1:
            eid = int(cur.lastrowid or 0)
            self._log("add", eid, {k: v for k, v in rec.items() if k != "embedding"})
            return eid, True
        row = self.conn.execute(
            "SELECT id FROM entries WHERE kind=? AND value=? AND scope=?", (rec["kind"], rec["value"], rec["scope"])
        ).fetchone()
        return int(row[0]), False

    @staticmethod
    def make_record(
        kind: str,
        value: str,
        *,
        aliases: tuple[str, ...] | list[str] = (),
        scope: str = DEFAULT_SCOPE,
        source: str = "",
        received: str | None = None,
        evidence: str = "",
        artist: str | None = None,
        phash: str | None = None,
        embedding: np.ndarray | None = None,
        embed_model: str | None = None,
    ) -> dict[str, Any]:
        """Validate and canonicalise one entry (raises InputError naming the bad field)."""
        scope = (scope or DEFAULT_SCOPE).strip().lower()
        if scope not in SCOPES:
            raise InputError(f"unknown scope '{scope}'", f"use one of {', '.join(SCOPES)}")
        if received:
            try:
                _dt.date.fromisoformat(str(received)[:10])
            except ValueError:
                raise InputError(f"received date '{received}' is not YYYY-MM-DD") from None
        aliases = tuple(a.strip() for a in aliases if a and a.strip())
        if aliases and kind != "artist":
            raise InputError("aliases only apply to artist entries")
        for a in aliases:
            canonical_value("artist", a)
        if phash is not None:
            phash = canonical_value("phash", phash)
        return {
            "kind": kind,
            "value": canonical_value(kind, value),
            "display": value.strip(),
            "aliases": json.dumps(list(aliases), ensure_ascii=False),
            "artist": artist,
            "phash": phash,
            "embedding": None if embedding is None else np.asarray(embedding, dtype=np.float32).tobytes(),
            "embed_model": embed_model,
            "source": source or "",
            "received": str(received or _dt.date.today().isoformat()),
            "scope": scope,
            "evidence": evidence or "",
        }

    def add(self, kind: str, value: str, **fields: Any) -> tuple[Entry, bool]:
        """Add one entry; returns (entry, created). Re-adding the same (kind, value, scope) is a no-op."""
        rec = self.make_record(kind, value, **fields)
        with self._write():
            eid, created = self._insert(rec)
        return self.get(eid), created

    def add_many(self, records: list[dict[str, Any]]) -> tuple[int, int]:
        """Insert pre-validated records in one transaction: all or nothing. Returns (added, duplicates)."""
        added = 0
        with self._write():
            for rec in records:
                added += self._insert(rec)[1]
        return added, len(records) - added

    def add_image(self, image: str | Path, *, artist: str | None = None, embedder: Any = None, **fields: Any) -> tuple[Entry, bool]:
        """Register an example image by its sha256, perceptual hash and (optionally) CLIP embedding only."""
        img = load_rgb(image)
        ph = phash_hex(img)
        emb = model = None
        if embedder is not None:
            emb = embedder.embed_images([img], progress=False)[0]
            weights = getattr(embedder, "weights_sha256", "") or ""
            model = f"{embedder.name}#{weights[:16]}" if weights else embedder.name  # name + weights: see apply._same_model
        return self.add(
            "image",
            sha256_file(image),
            artist=artist,
            phash=ph,
            embedding=emb,
            embed_model=model,
            evidence=fields.pop("evidence", "") or f"example image {Path(image).name}",
            **fields,
        )

    def deactivate(self, entry_id: int, reason: str) -> Entry:
        """Withdraw an entry (kept, marked inactive, logged): the history is never rewritten."""
        with self._write():
            cur = self.conn.execute("UPDATE entries SET active=0 WHERE id=? AND active=1", (entry_id,))
            if cur.rowcount != 1:
                raise InputError(f"no active registry entry with id {entry_id}", "see `audit optout list`")
            self._log("deactivate", entry_id, {"reason": reason})
        return self.get(entry_id)

    # -- reads ----------------------------------------------------------
    def get(self, entry_id: int) -> Entry:
        row = self.conn.execute(
            "SELECT id,kind,value,display,aliases,scope,source,received,evidence,active,artist,phash FROM entries WHERE id=?",
            (entry_id,),
        ).fetchone()
        if row is None:
            raise InputError(f"no registry entry with id {entry_id}")
        return Entry(
            row[0], row[1], row[2], row[3], tuple(json.loads(row[4])), row[5], row[6], row[7], row[8], bool(row[9]), row[10], row[11]
        )

    def frame(self, kind: str | None = None, active_only: bool = True, with_embeddings: bool = False) -> pd.DataFrame:
        """Entries as a DataFrame (the matcher's input)."""
        cols = "id,kind,value,display,aliases,artist,phash,source,received,scope,evidence,active,embed_model"
        if with_embeddings:
            cols += ",embedding"
        sql, args = f"SELECT {cols} FROM entries WHERE 1=1", []
        if kind:
            sql += " AND kind=?"
            args.append(kind)
        if active_only:
            sql += " AND active=1"
        df = pd.read_sql_query(sql + " ORDER BY id", self.conn, params=args)
        return df

    def log(self) -> pd.DataFrame:
        return pd.read_sql_query("SELECT seq,at,action,entry_id,payload FROM log ORDER BY seq", self.conn)

    def content_hash(self) -> str:
        """Hash of the active entries, recorded in every result's meta.json."""
        df = self.frame()
        return sha256_strings(f"{k}|{v}|{s}|{a}" for k, v, s, a in zip(df["kind"], df["value"], df["scope"], df["aliases"]))


def open_registry(path: str | Path, create: bool = False) -> Registry:
    return Registry(path, create=create)

"""Append-only, hash-chained audit log of removal actions: proves what was done without keeping personal data.

Each row holds the previous row's hash, the action, the request id and salted hashes of the manifest keys
touched — never names, captions, URLs or images. `log_head` keeps the row count and last hash, updated in the
same transaction, so deleting rows at the end is detected as well as editing or deleting rows in the middle.
This chain is unkeyed (anyone can recompute it); the keyed chain over every decision table is audit.removal.seal.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from dataclasses import dataclass
from typing import Callable, Iterable

from audit.removal.keys import db_path, load_keys

GENESIS = "0" * 64


def key_hash(key: str) -> str:
    """Unsalted hash of a manifest key: only for databases without keys (before `init-keys`); see `key_hasher`."""
    return hashlib.sha256(f"genaudit-key:{key}".encode("utf-8")).hexdigest()


def key_hasher(conn: sqlite3.Connection) -> Callable[[str], str]:
    """How `conn` hashes manifest keys: HMAC with the salt kept outside the database (audit.removal.keys), so a
    closed request's hashes cannot be recomputed from a name; the unsalted `key_hash` for an unkeyed database."""
    path = db_path(conn)
    keys = load_keys(path) if path is not None else None
    return keys.salted if keys is not None else key_hash


def _row_hash(seq: int, at: int, action: str, request_id: int | None, key_hashes: str, prev: str) -> str:
    body = json.dumps([seq, at, action, request_id, key_hashes, prev], separators=(",", ":"))
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def append_log(conn: sqlite3.Connection, action: str, request_id: int | None, keys: Iterable[str],
               hashed: bool = False) -> str:
    """Append one row (call inside the caller's transaction); `keys` are hashed unless `hashed`."""
    hasher = key_hasher(conn)
    kh = json.dumps(sorted(k if hashed else hasher(k) for k in keys))
    head = conn.execute("SELECT count, head FROM log_head WHERE id=1").fetchone()
    count, prev = (int(head[0]), str(head[1])) if head else (0, GENESIS)
    seq, at = count + 1, int(time.time())
    h = _row_hash(seq, at, action, request_id, kh, prev)
    conn.execute("INSERT INTO audit_log VALUES (?, ?, ?, ?, ?, ?, ?)", (seq, at, action, request_id, kh, prev, h))
    conn.execute("INSERT INTO log_head VALUES (1, ?, ?) ON CONFLICT(id) DO UPDATE SET count=excluded.count, "
                 "head=excluded.head", (seq, h))
    return h


@dataclass(frozen=True)
class LogCheck:
    """Outcome of `verify_log`: ok, rows checked, and the first problem found (with its row)."""

    ok: bool
    rows: int
    head: str
    problem: str | None = None
    seq: int | None = None


def verify_log(conn: sqlite3.Connection) -> LogCheck:
    """Recompute the chain; any edited, inserted, reordered or deleted row breaks it."""
    prev, expect_seq, n = GENESIS, 1, 0
    for r in conn.execute("SELECT seq, at_unix, action, request_id, key_hashes, prev_hash, row_hash FROM audit_log ORDER BY seq"):
        seq, at, action, rid, kh, p, h = r
        if seq != expect_seq:
            return LogCheck(False, n, prev, f"row {expect_seq} is missing (next row is {seq})", expect_seq)
        if p != prev:
            return LogCheck(False, n, prev, f"row {seq} does not follow row {seq - 1} (chain broken)", seq)
        if _row_hash(seq, at, action, rid, kh, p) != h:
            return LogCheck(False, n, prev, f"row {seq} was altered (hash mismatch)", seq)
        prev, expect_seq, n = h, seq + 1, n + 1
    head = conn.execute("SELECT count, head FROM log_head WHERE id=1").fetchone()
    if head is None and n:
        return LogCheck(False, n, prev, "the log head record is missing", None)
    if head is not None and (int(head[0]) != n or head[1] != prev):
        return LogCheck(False, n, prev, f"the log ends at row {n} but {head[0]} row(s) were written (rows deleted at the end)", n)
    return LogCheck(True, n, prev)

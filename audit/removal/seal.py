"""Tamper evidence for the whole removal database, not one table: a keyed chain of table states plus signed heads.

Why: the audit log's own sha256 chain can be recomputed by anyone after an edit, and the tables that hold the
decisions (requests, transitions, confirmations, tombstones, erase plan) were not covered (issue 16).

- Every committed transaction (audit.removal.store.transaction) that changed a decision table appends one row to
  `chain`: for each table its row count and an HMAC over all its rows in rowid order (edits, inserts, deletions
  and reordering all change it), linked to the previous row by an HMAC keyed by the secret in `<db>.keys/`
  (audit.removal.keys), which is not in the database: without it the chain cannot be recomputed.
- In the same transaction (under SQLite's write lock, so heads are in commit order) a head — sequence number,
  table counts, chain tip, time — signed with the Ed25519 key, is appended to `<db>.heads` and fsynced. A restored
  older copy of the database is then behind the head file; a truncated head file is behind the database.
- `verify` recomputes all of it and lists every problem found.
What someone holding the keys can still do is in docs/REMOVAL.md.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audit import config
from audit.errors import RegistryError
from audit.removal.auditlog import verify_log
from audit.removal.keys import RemovalKeys, db_path, load_keys

GENESIS = "0" * 64
#: Every table that records a decision or its evidence (the chain itself is checked link by link).
TABLES = ("info", "requests", "transitions", "candidates", "erase_plan", "tombstones", "residuals", "audit_log", "log_head")


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True, default=str).encode("utf-8")


def table_state(conn: sqlite3.Connection, key: bytes) -> dict[str, list[Any]]:
    """{table: [rows, HMAC of every row in rowid order]} for the decision tables present. The audit log is covered by
    its count and tip: its own sha256 chain (checked by `verify`) ties every earlier row to the tip."""
    have = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    out: dict[str, list[Any]] = {}
    for t in TABLES:
        if t not in have:
            continue
        h = hmac.new(key, t.encode(), hashlib.sha256)
        if t == "audit_log":
            n, tip = conn.execute("SELECT count(*), (SELECT row_hash FROM audit_log ORDER BY seq DESC LIMIT 1) "
                                  "FROM audit_log").fetchone()
            h.update(repr((n, tip)).encode())
        else:
            n = 0
            for row in conn.execute(f"SELECT rowid, * FROM {t} ORDER BY rowid"):  # noqa: S608 - fixed table names
                h.update(repr(tuple(row)).encode("utf-8") + b"\n")  # ints, floats, text, None: repr is exact
                n += 1
        out[t] = [int(n), h.hexdigest()]
    return out


def _link_mac(keys: RemovalKeys, seq: int, at: int, state: str, prev: str) -> str:
    return hmac.new(keys.chain_key, _dumps([seq, at, state, prev]), hashlib.sha256).hexdigest()


def _head_body(head: dict[str, Any]) -> bytes:
    return _dumps({k: v for k, v in head.items() if k != "sig"})


def seal(conn: sqlite3.Connection, keys: RemovalKeys, force: bool = False) -> int | None:
    """Append a chain row and a signed head if a decision table changed (call inside the write transaction).
    Returns the new sequence number, or None when nothing changed."""
    last = conn.execute("SELECT seq, state, mac FROM chain ORDER BY seq DESC LIMIT 1").fetchone()
    state = table_state(conn, keys.chain_key)
    text = json.dumps(state, sort_keys=True, separators=(",", ":"))
    if last is not None and last[1] == text and not force:
        return None
    seq, prev = (int(last[0]) + 1, str(last[2])) if last else (1, GENESIS)
    at = int(time.time())
    mac = _link_mac(keys, seq, at, text, prev)
    conn.execute("INSERT INTO chain VALUES (?, ?, ?, ?, ?)", (seq, at, text, prev, mac))
    head: dict[str, Any] = {"seq": seq, "at": at, "counts": {t: v[0] for t, v in state.items()}, "tip": mac,
                            "key_id": keys.key_id, "public_id": keys.public_id}
    head["sig"] = keys.sign(_head_body(head))
    path = db_path(conn)
    if path is not None:
        with open(config.removal_heads_file(path), "a", encoding="utf-8") as f:
            f.write(json.dumps(head, separators=(",", ":")) + "\n")
            f.flush()
            os.fsync(f.fileno())
    return seq


def _has_chain(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='chain'").fetchone() is not None


def stored_key_id(conn: sqlite3.Connection) -> str | None:
    r = conn.execute("SELECT value FROM info WHERE name='key_id'").fetchone()
    return str(r[0]) if r else None


def keys_for_write(conn: sqlite3.Connection) -> RemovalKeys | None:
    """The keys a write to `conn` must be sealed with; refuses an unkeyed or key-mismatched file database."""
    path = db_path(conn)
    if path is None:
        return None
    kid = stored_key_id(conn)
    if kid is None:
        raise RegistryError(f"{path} has no tamper-evidence keys yet",
                            f"run `audit removal init-keys --removal-db {path}` once, then retry")
    keys = load_keys(path)
    if keys is None:
        raise RegistryError(f"the keys of {path} are missing ({config.removal_keys_dir(path)})", "restore them from your key backup")
    if keys.key_id != kid:
        raise RegistryError(f"the keys in {keys.directory} are not the keys of {path}", "restore the right keys from backup")
    return keys


@dataclass(frozen=True)
class TamperCheck:
    """Outcome of `verify`: ok when no problem was found; every problem found, chain entries and heads checked."""

    ok: bool
    problems: tuple[str, ...]
    entries: int
    heads: int
    tip: str
    public_id: str | None


def _read_heads(path: Path, problems: list[str]) -> list[dict[str, Any]]:
    if not path.is_file():
        problems.append(f"the head file {path.name} is missing")
        return []
    heads: list[dict[str, Any]] = []
    raw = path.read_bytes()
    if raw and not raw.endswith(b"\n"):
        problems.append(f"the head file {path.name} ends in a partial line (truncated)")
    for i, line in enumerate(raw.decode("utf-8", "replace").splitlines(), 1):
        try:
            h = json.loads(line)
            assert isinstance(h, dict) and {"seq", "tip", "sig"} <= set(h)
        except (ValueError, AssertionError):
            problems.append(f"head line {i} is not a head record")
            continue
        heads.append(h)
    return heads


def verify(conn: sqlite3.Connection, expect_key: str | None = None) -> TamperCheck:
    """Check the keyed chain against the tables, and the signed heads against the chain. Read-only."""
    path, problems = db_path(conn), []
    if path is None:
        return TamperCheck(False, ("an in-memory database has no head file",), 0, 0, GENESIS, None)
    keys = load_keys(path)
    if keys is None:
        return TamperCheck(False, (f"no keys at {config.removal_keys_dir(path)}: the chain cannot be checked "
                                   "(restore the keys, or run init-keys on a database never keyed)",), 0, 0, GENESIS, None)
    if expect_key and expect_key.lower() not in (keys.public_id, keys.key_id):
        problems.append(f"the signing key is {keys.public_id}, not the pinned {expect_key} (keys swapped)")
    kid = stored_key_id(conn)
    if kid is None:
        problems.append("the database records no key id (info row deleted, or tables wiped)")
    elif kid != keys.key_id:
        problems.append(f"the database was keyed with {kid}, the keys present are {keys.key_id} (keys swapped)")
    chain = conn.execute("SELECT seq, at_unix, state, prev_mac, mac FROM chain ORDER BY seq").fetchall() if _has_chain(conn) else []
    if not chain:
        problems.append("the chain is empty although keys exist (tables wiped)")
    prev, want, macs = GENESIS, 1, {}
    for seq, at, state, p, mac in chain:
        if seq != want:
            problems.append(f"chain entry {want} is missing")
        if p != prev:
            problems.append(f"chain entry {seq} does not follow entry {seq - 1}")
        if not hmac.compare_digest(_link_mac(keys, int(seq), int(at), str(state), str(p)), str(mac)):
            problems.append(f"chain entry {seq} does not verify with the key (edited or recomputed without it)")
        prev, want, macs[int(seq)] = str(mac), int(seq) + 1, str(mac)
    if chain:
        recorded = json.loads(chain[-1][2])
        now = table_state(conn, keys.chain_key)
        for t in sorted(set(recorded) | set(now)):
            r, c = recorded.get(t, [0, ""]), now.get(t, [0, ""])
            if r != c:
                what = (f"{r[0] - c[0]} row(s) deleted" if c[0] < r[0] else f"{c[0] - r[0]} row(s) added" if c[0] > r[0]
                        else "rows edited or reordered")
                problems.append(f"table {t} changed outside genaudit since entry {chain[-1][0]}: {what}")
    heads = _read_heads(config.removal_heads_file(path), problems)
    if not heads and (chain or keys.sealed):
        problems.append("the head file holds no heads although the database is keyed (wiped)")
    last_seq = 0
    for h in heads:
        if h.get("public_id") != keys.public_id or not keys.verify(_head_body(h), str(h.get("sig"))):
            problems.append(f"head {h.get('seq')} has no valid signature by {keys.public_id}")
        seq = int(h.get("seq") or 0)
        if seq != last_seq + 1:
            problems.append(f"head {seq} follows head {last_seq} (heads missing, reordered or forked)")
        last_seq = seq
        if seq in macs and macs[seq] != h.get("tip"):
            problems.append(f"head {seq} names a different chain tip than the database (database rewritten)")
    db_tip = int(chain[-1][0]) if chain else 0
    if last_seq > db_tip:
        problems.append(f"the head file is at entry {last_seq}, the database only at {db_tip} "
                        "(an older copy of the database was restored, or rows of the chain were deleted)")
    elif heads and last_seq < db_tip:
        problems.append(f"the database is at entry {db_tip}, the head file only at {last_seq} (head file truncated)")
    log = verify_log(conn)
    if not log.ok:
        problems.append(f"audit log: {log.problem}")
    return TamperCheck(not problems, tuple(dict.fromkeys(problems)), len(chain), len(heads), prev, keys.public_id)

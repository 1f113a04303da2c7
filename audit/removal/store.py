"""GDPR request queue in SQLite: explicit states, legal transitions only, deadlines, optimistic concurrency.

Why SQLite: several reviewers act on the same queue; every transition is one `BEGIN IMMEDIATE` transaction
that also appends to the hash-chained audit log, and it only applies when the request is still in the
state the reviewer saw (`expected`), so two people acting at once cannot both win.
Deadlines follow Art. 12(3): one month from receipt, extendable once by at most two more months.
"""

from __future__ import annotations

import calendar
import contextlib
import sqlite3
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from audit.errors import RegistryError
from audit.removal.auditlog import append_log
from audit.removal.minimise import minimise_request

#: 2: subject/contact nullable, so a closed request keeps no personal data (audit.removal.minimise).
SCHEMA_VERSION = 2

STATES = ("received", "identity_pending", "verified", "rejected", "located", "erased", "index_rebuilt",
          "confirmed", "closed", "extended", "exempted")
OPEN_WORK = ("received", "identity_pending", "verified", "located")
#: state -> states it may move to. `extended` may also go back to the state it came from (see `allowed_next`).
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "received": ("identity_pending", "verified", "rejected", "extended", "exempted"),
    "identity_pending": ("verified", "rejected", "extended", "exempted"),
    "verified": ("located", "rejected", "extended", "exempted"),
    "located": ("erased", "extended", "exempted"),
    "erased": ("index_rebuilt",),
    "index_rebuilt": ("confirmed",),
    "confirmed": ("closed",),
    "rejected": ("closed",),
    "exempted": ("closed",),
    "extended": ("rejected", "exempted"),
    "closed": (),
}
#: Transitions that must carry a reason (Art. 12(4)/(5): tell the subject why).
NEEDS_REASON = ("rejected", "extended", "exempted")
#: Transitions only the erasure executor makes (so a reviewer cannot claim an erasure that did not happen).
EXECUTOR_ONLY = ("erased", "index_rebuilt")
MAX_EXTENSION_MONTHS = 2

_REQUESTS_COLUMNS = """(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  subject TEXT, contact TEXT, kind TEXT NOT NULL DEFAULT 'erasure',
  state TEXT NOT NULL, prev_state TEXT, reason TEXT,
  received_unix INTEGER NOT NULL, deadline_unix INTEGER NOT NULL, extended_months INTEGER NOT NULL DEFAULT 0,
  updated_unix INTEGER NOT NULL, version INTEGER NOT NULL DEFAULT 0)"""

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS info (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS requests {_REQUESTS_COLUMNS};
CREATE TABLE IF NOT EXISTS transitions (
  request_id INTEGER NOT NULL, from_state TEXT NOT NULL, to_state TEXT NOT NULL, reason TEXT,
  actor TEXT, at_unix INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS candidates (
  request_id INTEGER NOT NULL, key TEXT NOT NULL, method TEXT NOT NULL, score REAL NOT NULL,
  confirmed INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (request_id, key, method));
CREATE TABLE IF NOT EXISTS erase_plan (
  request_id INTEGER NOT NULL, step INTEGER NOT NULL, name TEXT NOT NULL, arg TEXT NOT NULL,
  done_unix INTEGER, PRIMARY KEY (request_id, step));
CREATE TABLE IF NOT EXISTS tombstones (
  sha256 TEXT NOT NULL, phash TEXT, request_id INTEGER NOT NULL, added_unix INTEGER NOT NULL,
  PRIMARY KEY (sha256));
CREATE TABLE IF NOT EXISTS audit_log (
  seq INTEGER PRIMARY KEY, at_unix INTEGER NOT NULL, action TEXT NOT NULL, request_id INTEGER,
  key_hashes TEXT NOT NULL, prev_hash TEXT NOT NULL, row_hash TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS log_head (id INTEGER PRIMARY KEY CHECK (id = 1), count INTEGER NOT NULL, head TEXT NOT NULL);
"""


class RequestError(RegistryError):
    """A removal request cannot do what was asked (unknown id, illegal transition, stale state)."""


@dataclass(frozen=True)
class RemovalRequest:
    id: int
    subject: str | None  # None once the request is closed (data minimisation)
    contact: str | None
    state: str
    prev_state: str | None
    reason: str | None
    received_unix: int
    deadline_unix: int
    extended_months: int
    updated_unix: int

    def overdue(self, now: float | None = None) -> bool:
        """Past the deadline and no answer given yet (a confirmation, rejection or exemption is an answer)."""
        answered = self.state in ("confirmed", "closed", "rejected", "exempted")
        return not answered and (time.time() if now is None else now) > self.deadline_unix

    def as_dict(self) -> dict:
        return {**asdict(self), "received": _iso(self.received_unix), "deadline": _iso(self.deadline_unix),
                "overdue": self.overdue()}


def _iso(t: int) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def add_months(t: int, months: int) -> int:
    """Same day-of-month `months` later (clamped to the month's last day), as Art. 12(3) counts."""
    d = datetime.fromtimestamp(t, timezone.utc)
    m = d.month - 1 + months
    y, m = d.year + m // 12, m % 12 + 1
    day = min(d.day, calendar.monthrange(y, m)[1])
    return int(d.replace(year=y, month=m, day=day).timestamp())


def connect(db: str | Path) -> sqlite3.Connection:
    """Open (creating if needed) a request database; refuses files from a newer schema."""
    db = Path(db)
    if db.exists() and not db.is_file():
        raise RegistryError(f"{db} is not a file", "pass --removal-db path/to/requests.db")
    try:
        conn = sqlite3.connect(str(db), timeout=10, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.executescript(_SCHEMA)
        row = conn.execute("SELECT value FROM info WHERE name='schema'").fetchone()
        if row is None:
            conn.execute("INSERT OR IGNORE INTO info VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
        elif int(row[0]) > SCHEMA_VERSION:
            raise RegistryError(f"{db} has schema {row[0]}, this genaudit reads {SCHEMA_VERSION}", "upgrade genaudit")
        elif int(row[0]) < SCHEMA_VERSION:
            _migrate(conn)
    except sqlite3.DatabaseError as exc:
        raise RegistryError(f"{db} is not a usable request database ({exc})", "restore it from backup") from None
    return conn


def _migrate(conn: sqlite3.Connection) -> None:
    """Schema 1 -> 2 (subject/contact nullable), in one transaction; a second process finds it done."""
    with transaction(conn):
        if int(conn.execute("SELECT value FROM info WHERE name='schema'").fetchone()[0]) >= 2:
            return
        conn.execute(f"CREATE TABLE requests_v2 {_REQUESTS_COLUMNS}")
        conn.execute("INSERT INTO requests_v2 SELECT id, subject, contact, kind, state, prev_state, reason, received_unix, "
                     "deadline_unix, extended_months, updated_unix, version FROM requests")
        conn.execute("DROP TABLE requests")
        conn.execute("ALTER TABLE requests_v2 RENAME TO requests")
        conn.execute("UPDATE info SET value='2' WHERE name='schema'")


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE … COMMIT, rolled back on any error: a transition is all or nothing."""
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        raise RegistryError(f"request database is busy ({exc})", "another reviewer holds it; try again") from None
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _row(r: sqlite3.Row) -> RemovalRequest:
    return RemovalRequest(r["id"], r["subject"], r["contact"], r["state"], r["prev_state"], r["reason"],
                          r["received_unix"], r["deadline_unix"], r["extended_months"], r["updated_unix"])


def get_request(conn: sqlite3.Connection, request_id: int) -> RemovalRequest:
    r = conn.execute("SELECT * FROM requests WHERE id=?", (int(request_id),)).fetchone()
    if r is None:
        raise RequestError(f"no removal request #{request_id}", "list them with `audit removal list`")
    return _row(r)


def create_request(conn: sqlite3.Connection, subject: str, contact: str, received_unix: int | None = None,
                   actor: str = "") -> RemovalRequest:
    """Log a new request; a second open request from the same subject and contact is refused."""
    subject, contact = " ".join(str(subject).split()), str(contact).strip()
    if not subject or not contact:
        raise RequestError("a request needs the subject's name and a contact address", "pass --name and --contact")
    now = int(time.time())
    received = int(received_unix if received_unix is not None else now)
    with transaction(conn):
        dup = conn.execute("SELECT id FROM requests WHERE lower(subject)=lower(?) AND lower(contact)=lower(?) "
                           "AND state NOT IN ('closed')", (subject, contact)).fetchone()
        if dup is not None:
            raise RequestError(f"a request from this subject is already open (#{dup[0]})",
                               f"continue with `audit removal show {dup[0]}`")
        cur = conn.execute("INSERT INTO requests (subject, contact, state, received_unix, deadline_unix, updated_unix) "
                           "VALUES (?, ?, 'received', ?, ?, ?)", (subject, contact, received, add_months(received, 1), now))
        rid = int(cur.lastrowid or 0)
        conn.execute("INSERT INTO transitions VALUES (?, '', 'received', NULL, ?, ?)", (rid, actor, now))
        append_log(conn, "received", rid, [])
    return get_request(conn, rid)


def allowed_next(req: RemovalRequest) -> tuple[str, ...]:
    nxt = TRANSITIONS[req.state]
    if req.state == "extended" and req.prev_state:
        nxt = (req.prev_state, *[s for s in TRANSITIONS[req.prev_state] if s != "extended"], *nxt)
    return tuple(dict.fromkeys(nxt))


def manual_next(req: RemovalRequest) -> tuple[str, ...]:
    """The states a reviewer may move `req` to by hand: `allowed_next` without the EXECUTOR_ONLY ones."""
    return tuple(s for s in allowed_next(req) if s not in EXECUTOR_ONLY)


def transition(conn: sqlite3.Connection, request_id: int, to_state: str, *, expected: str | None = None,
               reason: str | None = None, actor: str = "", months: int = MAX_EXTENSION_MONTHS,
               _executor: bool = False, key_hashes: list[str] | None = None) -> RemovalRequest:
    """Move a request to `to_state` if legal and still in `expected` (default: the state read now)."""
    if to_state not in STATES:
        raise RequestError(f"unknown state '{to_state}'", f"use one of {', '.join(STATES)}")
    if to_state in EXECUTOR_ONLY and not _executor:
        raise RequestError(f"'{to_state}' is set by `audit removal erase`, not by hand", "run the erasure instead")
    if to_state in NEEDS_REASON and not (reason or "").strip():
        raise RequestError(f"moving to '{to_state}' needs a reason", "pass --reason '...'")
    with transaction(conn):
        req = get_request(conn, request_id)
        if expected is not None and req.state != expected:
            raise RequestError(f"request #{request_id} is '{req.state}', not '{expected}' (someone else acted first)",
                               "reload it with `audit removal show` and decide again")
        if to_state not in allowed_next(req):
            raise RequestError(f"request #{request_id} cannot go from '{req.state}' to '{to_state}'",
                               f"allowed: {', '.join(allowed_next(req)) or 'none (closed)'}")
        deadline, ext, prev = req.deadline_unix, req.extended_months, req.prev_state
        if to_state == "extended":
            if req.extended_months:
                raise RequestError(f"request #{request_id} was already extended", "Art. 12(3) allows one extension of at most two months")
            if not 1 <= int(months) <= MAX_EXTENSION_MONTHS:
                raise RequestError(f"an extension of {months} months is not allowed", "extend by 1 or 2 months")
            deadline, ext, prev = add_months(req.received_unix, 1 + int(months)), int(months), req.state
        now = int(time.time())
        cur = conn.execute("UPDATE requests SET state=?, prev_state=?, reason=coalesce(?, reason), deadline_unix=?, "
                           "extended_months=?, updated_unix=?, version=version+1 WHERE id=? AND state=?",
                           (to_state, prev, reason, deadline, ext, now, int(request_id), req.state))
        if cur.rowcount != 1:  # pragma: no cover - BEGIN IMMEDIATE serialises writers; belt and braces
            raise RequestError(f"request #{request_id} changed while updating", "try again")
        conn.execute("INSERT INTO transitions VALUES (?, ?, ?, ?, ?, ?)", (int(request_id), req.state, to_state, reason, actor, now))
        append_log(conn, to_state, int(request_id), key_hashes or [])
        if to_state == "closed":  # nothing left to do for the subject: drop their personal data now, atomically
            minimise_request(conn, int(request_id))
    return get_request(conn, request_id)


def list_requests(conn: sqlite3.Connection, include_closed: bool = False, now: float | None = None) -> list[RemovalRequest]:
    """Overdue first, then by deadline."""
    rows = [_row(r) for r in conn.execute("SELECT * FROM requests ORDER BY deadline_unix, id")]
    if not include_closed:
        rows = [r for r in rows if r.state != "closed"]
    return sorted(rows, key=lambda r: (not r.overdue(now), r.deadline_unix, r.id))

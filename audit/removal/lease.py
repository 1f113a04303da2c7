"""One erase per request at a time: a lease (owner, expiry) taken in one `BEGIN IMMEDIATE` transaction.

Why: two `audit removal erase` runs of one request used to run every step twice (duplicate audit-log rows, a
crash, a misleading "none of the confirmed keys are in DATASET"). The lease is taken by a compare-and-set in one
SQLite write transaction, so of two processes exactly one gets it; the other is told plainly who holds it.
A lease ends when its holder releases it, when it expires (the holder renews it at every step), or at once
when the holder was a process on this machine that no longer exists (killed: resume need not wait).
"""

from __future__ import annotations

import os
import socket
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

from audit.atomic import pid_alive
from audit.removal.store import RequestError, transaction

#: Seconds a lease lasts without renewal; erase renews it before every step (the index rebuild is the long one).
LEASE_SECONDS = 3600

_SCHEMA = ("CREATE TABLE IF NOT EXISTS erase_lease (request_id INTEGER PRIMARY KEY, owner TEXT NOT NULL, "
           "host TEXT NOT NULL, pid INTEGER NOT NULL, taken_unix INTEGER NOT NULL, expires_unix INTEGER NOT NULL)")


@dataclass(frozen=True)
class Lease:
    """Who holds the erase of `request_id` and until when."""

    request_id: int
    owner: str
    host: str
    pid: int
    expires_unix: int


def _me() -> tuple[str, str, int]:
    host, pid = socket.gethostname(), os.getpid()
    return f"{host}:{pid}:{time.monotonic_ns()}", host, pid


def _holder_gone(row: sqlite3.Row, now: int) -> bool:
    if int(row["expires_unix"]) <= now:
        return True
    return str(row["host"]) == socket.gethostname() and not pid_alive(int(row["pid"]))


def current_lease(conn: sqlite3.Connection, request_id: int) -> Lease | None:
    conn.execute(_SCHEMA)
    r = conn.execute("SELECT * FROM erase_lease WHERE request_id=?", (int(request_id),)).fetchone()
    return None if r is None else Lease(int(r["request_id"]), r["owner"], r["host"], int(r["pid"]), int(r["expires_unix"]))


def acquire(conn: sqlite3.Connection, request_id: int, seconds: int = LEASE_SECONDS) -> Lease:
    """Take the erase lease of `request_id` or raise RequestError naming the process that holds it."""
    conn.execute(_SCHEMA)
    owner, host, pid = _me()
    now = int(time.time())
    with transaction(conn):
        r = conn.execute("SELECT * FROM erase_lease WHERE request_id=?", (int(request_id),)).fetchone()
        if r is not None and not _holder_gone(r, now):
            until = time.strftime("%H:%M:%S UTC", time.gmtime(int(r["expires_unix"])))
            raise RequestError(f"request #{request_id} is being erased by another process "
                               f"(pid {r['pid']} on {r['host']}, lease until {until})",
                               "wait for it to finish, then re-run to see the result")
        conn.execute("INSERT OR REPLACE INTO erase_lease VALUES (?, ?, ?, ?, ?, ?)",
                     (int(request_id), owner, host, pid, now, now + int(seconds)))
    return Lease(int(request_id), owner, host, pid, now + int(seconds))


def renew(conn: sqlite3.Connection, lease: Lease, seconds: int = LEASE_SECONDS) -> Lease:
    """Extend our lease; RequestError if it was taken over meanwhile (we expired): stop, do not run the step."""
    now = int(time.time())
    with transaction(conn):
        cur = conn.execute("UPDATE erase_lease SET expires_unix=? WHERE request_id=? AND owner=?",
                           (now + int(seconds), lease.request_id, lease.owner))
        if cur.rowcount != 1:
            raise RequestError(f"the erase lease of request #{lease.request_id} was taken over by another process",
                               "this run stopped; the other one continues the erasure")
    return Lease(lease.request_id, lease.owner, lease.host, lease.pid, now + int(seconds))


def release(conn: sqlite3.Connection, lease: Lease) -> None:
    with transaction(conn):
        conn.execute("DELETE FROM erase_lease WHERE request_id=? AND owner=?", (lease.request_id, lease.owner))


@contextmanager
def erase_lease(conn: sqlite3.Connection, request_id: int, seconds: int = LEASE_SECONDS) -> Iterator[Lease]:
    """Hold the lease for the block; released on the way out (a killed holder's lease is freed by pid check)."""
    lease = acquire(conn, request_id, seconds)
    try:
        yield lease
    finally:
        release(conn, lease)

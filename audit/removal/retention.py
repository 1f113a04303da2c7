"""Storage limit: close (and so minimise) requests whose answer is older than the retention period.

Separate from `minimise` (which `store.transition` calls when a request closes) because this policy drives
`transition` itself: keeping both in one module tied store and minimise into an import cycle.
"""

from __future__ import annotations

import sqlite3
import time

from audit.removal.store import RequestError, transition


def close_answered(conn: sqlite3.Connection, retention_days: float, now: float | None = None,
                   actor: str = "retention") -> list[int]:
    """Close (and so minimise) every answered request (confirmed, rejected, exempted) whose answer is older than
    `retention_days`: the storage limit for keeping a subject's name after the answer, e.g. for a complaint."""
    if retention_days < 0:
        raise RequestError(f"retention of {retention_days} days is negative", "pass --retention-days 0 or more")
    cutoff = int((time.time() if now is None else now) - retention_days * 86400)
    due = conn.execute("SELECT id, state FROM requests WHERE state IN ('confirmed', 'rejected', 'exempted') "
                       "AND updated_unix <= ? ORDER BY id", (cutoff,)).fetchall()
    closed = []
    for rid, state in due:
        try:
            transition(conn, int(rid), "closed", expected=str(state), actor=actor)
        except RequestError:  # another reviewer moved it meanwhile: leave it to them
            continue
        closed.append(int(rid))
    return closed

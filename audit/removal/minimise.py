"""Data minimisation when a request is closed (Art. 5(1)(c), (e)): the queue stops holding the subject's data.

While a request is open the reviewer needs the name and contact address (to verify identity, to answer) and the
manifest keys of the hits (to erase them). Once it is closed none of that is needed, so in the same transaction
as the move to `closed`:

- requests.subject and requests.contact become NULL (a hash of a name is no protection: names are guessable);
- candidate keys become key hashes (audit.removal.auditlog.key_hash, as in the log), scores and methods kept;
- the erasure journal keeps key hashes instead of keys and drops the image paths; the sha256/pHash fingerprints
  stay (they are the tombstones that stop a re-ingest);
- one `minimised` row in the hash-chained audit log records it (key hashes only).

Kept: ids, states, dates, deadlines, reasons (the legal ground of a rejection or exemption), transitions,
tombstones and the log. Reasons are free text: write them without personal data.
"""

from __future__ import annotations

import json
import sqlite3

from audit.removal.auditlog import append_log, key_hash

MINIMISED = "minimised"


def minimise_request(conn: sqlite3.Connection, request_id: int) -> int:
    """Strip personal fields of a request being closed; call inside the caller's transaction (runs once: `closed`
    is final). Returns how many distinct keys were replaced by hashes."""
    rid = int(request_id)
    conn.execute("UPDATE requests SET subject=NULL, contact=NULL WHERE id=?", (rid,))
    rows = conn.execute("SELECT key, method, score, confirmed FROM candidates WHERE request_id=?", (rid,)).fetchall()
    keys = sorted({str(r[0]) for r in rows})
    conn.execute("DELETE FROM candidates WHERE request_id=?", (rid,))
    conn.executemany("INSERT OR REPLACE INTO candidates VALUES (?, ?, ?, ?, ?)",
                     [(rid, key_hash(str(r[0])), r[1], r[2], r[3]) for r in rows])
    for step, arg in conn.execute("SELECT step, arg FROM erase_plan WHERE request_id=?", (rid,)).fetchall():
        a = json.loads(arg)
        if a.get(MINIMISED):
            continue
        plan_keys = [str(k) for k in a.get("keys") or []]
        keys = sorted(set(keys) | set(plan_keys))
        a["keys"] = sorted(key_hash(k) for k in plan_keys)
        a.pop("paths", None)
        a[MINIMISED] = True
        conn.execute("UPDATE erase_plan SET arg=? WHERE request_id=? AND step=?", (json.dumps(a), rid, step))
    append_log(conn, MINIMISED, rid, keys)
    return len(keys)

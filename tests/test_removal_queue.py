"""Removal queue: states, reasons, deadlines, optimistic concurrency, duplicates, hash-chained log (real SQLite file)."""

from __future__ import annotations

import sqlite3
import time

import pytest

from audit.cli import main
from audit.removal import connect, create_request, get_request, list_requests, transition, verify_log
from audit.removal.store import RequestError, add_months


@pytest.fixture()
def db(tmp_path):
    return tmp_path / "requests.db"


def test_full_lifecycle_and_illegal_transitions(db):
    conn = connect(db)
    r = create_request(conn, "Grace Hopper", "grace@example.org")
    assert r.state == "received" and r.deadline_unix == add_months(r.received_unix, 1)
    with pytest.raises(RequestError, match="cannot go from 'received' to 'confirmed'"):
        transition(conn, r.id, "confirmed")
    with pytest.raises(RequestError, match="set by `audit removal erase`"):
        transition(conn, r.id, "erased")
    transition(conn, r.id, "identity_pending")
    with pytest.raises(RequestError, match="needs a reason"):
        transition(conn, r.id, "rejected")
    assert transition(conn, r.id, "rejected", reason="manifestly unfounded").state == "rejected"
    assert transition(conn, r.id, "closed").state == "closed"
    with pytest.raises(RequestError, match="none \\(closed\\)"):
        transition(conn, r.id, "received")
    with pytest.raises(RequestError, match="no removal request #99"):
        get_request(conn, 99)
    states = [row[0] for row in conn.execute("SELECT to_state FROM transitions WHERE request_id=? ORDER BY rowid", (r.id,))]
    assert states == ["received", "identity_pending", "rejected", "closed"]


def test_extension_once_by_at_most_two_months(db):
    conn = connect(db)
    r = create_request(conn, "A B", "ab@example.org", received_unix=1_700_000_000)
    with pytest.raises(RequestError, match="3 months is not allowed"):
        transition(conn, r.id, "extended", reason="complex", months=3)
    e = transition(conn, r.id, "extended", reason="many items", months=2)
    assert e.deadline_unix == add_months(r.received_unix, 3) and e.prev_state == "received"
    v = transition(conn, r.id, "verified")  # back to work: received's successors
    assert v.state == "verified" and v.deadline_unix == e.deadline_unix
    with pytest.raises(RequestError, match="already extended"):
        transition(conn, r.id, "extended", reason="again")


def test_overdue_first_and_duplicates(db):
    conn = connect(db)
    now = int(time.time())
    fresh = create_request(conn, "New Person", "new@example.org", received_unix=now)
    old = create_request(conn, "Old Person", "old@example.org", received_unix=now - 40 * 86400)
    rows = list_requests(conn)
    assert [r.id for r in rows] == [old.id, fresh.id] and rows[0].overdue() and not rows[1].overdue()
    with pytest.raises(RequestError, match=f"already open \\(#{fresh.id}\\)"):
        create_request(conn, "new  person", "NEW@example.org")


def test_two_reviewers_cannot_both_apply(db):
    a, b = connect(db), connect(db)
    r = create_request(a, "C D", "cd@example.org")
    seen = get_request(b, r.id).state
    transition(a, r.id, "verified", expected=seen)
    with pytest.raises(RequestError, match="is 'verified', not 'received'"):
        transition(b, r.id, "rejected", expected=seen, reason="no id")
    assert get_request(a, r.id).state == "verified"


@pytest.mark.parametrize("tamper,problem", [
    ("UPDATE audit_log SET action='closed' WHERE seq=2", "row 2 was altered"),
    ("DELETE FROM audit_log WHERE seq=2", "row 2 is missing"),
    ("DELETE FROM audit_log WHERE seq=(SELECT max(seq) FROM audit_log)", "rows deleted at the end"),
])
def test_log_has_no_personal_data_and_detects_tampering(db, capsys, tamper, problem):
    conn = connect(db)
    r = create_request(conn, "Eileen Collins", "eileen@example.org")
    transition(conn, r.id, "identity_pending")
    transition(conn, r.id, "verified")
    assert verify_log(conn).ok and verify_log(conn).rows == 3
    dump = "\n".join(str(tuple(row)) for row in conn.execute("SELECT * FROM audit_log"))
    assert "Eileen" not in dump and "example.org" not in dump
    assert main(["removal", "verify-log", "--removal-db", str(db)]) == 0
    raw = sqlite3.connect(db)
    raw.execute(tamper)
    raw.commit()
    raw.close()
    check = verify_log(connect(db))
    assert not check.ok and problem in check.problem
    capsys.readouterr()
    assert main(["removal", "verify-log", "--removal-db", str(db)]) == 2
    err = capsys.readouterr().err
    assert "fails verification" in err and "Traceback" not in err


def test_cli_queue(db, capsys):
    assert main(["removal", "new", "--name", "Grace Hopper", "--contact", "g@example.org", "--removal-db", str(db)]) == 0
    assert main(["removal", "move", "1", "verified", "--expect", "received", "--removal-db", str(db)]) == 0
    capsys.readouterr()
    assert main(["removal", "move", "1", "closed", "--removal-db", str(db)]) == 2
    assert "cannot go from 'verified' to 'closed'" in capsys.readouterr().err
    assert main(["removal", "show", "7", "--removal-db", str(db)]) == 2
    assert "no removal request #7" in capsys.readouterr().err
    assert main(["removal", "list", "--removal-db", str(db)]) == 0
    assert "verified" in capsys.readouterr().out


def test_concurrent_reviewers_exactly_one_wins(db):
    """Two threads with their own connections act on the same request at once: one applies, one is refused."""
    import threading

    r = create_request(connect(db), "E F", "ef@example.org")
    barrier, results = threading.Barrier(2), []

    def act(to: str, reason: str | None) -> None:
        conn = connect(db)
        barrier.wait()
        try:
            results.append(transition(conn, r.id, to, expected="received", reason=reason).state)
        except RequestError as exc:
            results.append(str(exc))

    threads = [threading.Thread(target=act, args=a) for a in (("verified", None), ("rejected", "no proof of identity"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    applied = [x for x in results if x in ("verified", "rejected")]
    assert len(applied) == 1 and any("someone else acted first" in x for x in results)
    assert get_request(connect(db), r.id).state == applied[0]
    assert verify_log(connect(db)).ok


def test_not_a_database_is_one_line(tmp_path, capsys):
    bad = tmp_path / "requests.db"
    bad.write_bytes(b"this is not sqlite at all" * 100)
    assert main(["removal", "list", "--removal-db", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "is not a usable request database" in err and "Traceback" not in err


def test_closing_a_rejected_request_minimises_and_old_files_migrate(db, capsys):
    """A schema-1 file (subject/contact NOT NULL) is migrated on open; closing drops name and contact, keeps the audit."""
    raw = sqlite3.connect(db)
    raw.executescript("""
        CREATE TABLE info (name TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO info VALUES ('schema', '1');
        CREATE TABLE requests (id INTEGER PRIMARY KEY AUTOINCREMENT, subject TEXT NOT NULL, contact TEXT NOT NULL,
          kind TEXT NOT NULL DEFAULT 'erasure', state TEXT NOT NULL, prev_state TEXT, reason TEXT,
          received_unix INTEGER NOT NULL, deadline_unix INTEGER NOT NULL, extended_months INTEGER NOT NULL DEFAULT 0,
          updated_unix INTEGER NOT NULL, version INTEGER NOT NULL DEFAULT 0);
        INSERT INTO requests (subject, contact, state, received_unix, deadline_unix, updated_unix)
          VALUES ('Old Subject', 'old@example.org', 'received', 1700000000, 1702592000, 1700000000);""")
    raw.commit()
    raw.close()
    conn = connect(db)
    assert conn.execute("SELECT value FROM info WHERE name='schema'").fetchone()[0] == "2"
    assert get_request(conn, 1).subject == "Old Subject"
    r = create_request(conn, "Ada Lovelace", "ada@example.org")
    assert r.id == 2  # ids keep counting after the migration
    transition(conn, r.id, "rejected", reason="identity not proven within the deadline")
    closed = transition(conn, r.id, "closed")
    assert closed.subject is None and closed.contact is None
    assert closed.reason == "identity not proven within the deadline" and closed.received_unix == r.received_unix
    dump = "\n".join(sqlite3.connect(db).iterdump())
    assert "Ada" not in dump and "ada@example.org" not in dump and "Old Subject" in dump  # only the closed one
    assert [row[0] for row in conn.execute("SELECT to_state FROM transitions WHERE request_id=? ORDER BY rowid",
                                          (r.id,))] == ["received", "rejected", "closed"]
    assert conn.execute("SELECT action FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()[0] == "minimised"
    assert verify_log(conn).ok
    assert create_request(conn, "Ada Lovelace", "ada@example.org").id == 3  # she may ask again
    capsys.readouterr()
    assert main(["removal", "show", str(r.id), "--removal-db", str(db)]) == 0
    assert "personal data removed" in capsys.readouterr().out


def test_close_answered_after_retention(db, capsys):
    conn = connect(db)
    rejected = create_request(conn, "Rejected Person", "rej@example.org")
    transition(conn, rejected.id, "rejected", reason="identity not proven")
    still_open = create_request(conn, "Open Person", "open@example.org")
    from audit.removal.retention import close_answered

    assert close_answered(conn, 30) == []  # answered just now: kept for the retention period
    assert close_answered(conn, 30, now=time.time() + 31 * 86400) == [rejected.id]
    assert get_request(conn, rejected.id).subject is None
    assert get_request(conn, still_open.id).subject == "Open Person"  # open work is never closed by retention
    assert main(["removal", "close-answered", "--retention-days", "0", "--removal-db", str(db)]) == 0
    assert "closed and minimised 0 request(s)" in capsys.readouterr().out
    assert verify_log(conn).ok


def test_manual_next_never_offers_executor_only_states(db):
    """What the app's "Move to" box offers: every allowed next state except those only the erasure sets."""
    from audit.removal.store import EXECUTOR_ONLY, allowed_next, manual_next

    conn = connect(db)
    r = create_request(conn, "Grace Hopper", "grace@example.org")
    for to in ("identity_pending", "verified", "located"):
        r = transition(conn, r.id, to)
    assert "erased" in allowed_next(r) and manual_next(r) == ("extended", "exempted")
    r = transition(conn, r.id, "extended", reason="many images to check")
    assert manual_next(r) == ("located", "exempted", "rejected")  # back to where it came from, never to erased
    assert not set(manual_next(r)) & set(EXECUTOR_ONLY)

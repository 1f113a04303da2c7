"""Tamper matrix on a real SQLite file: every way of rewriting the removal database's history that issue 16 lists
(and more) is detected by `verify` / `audit removal verify-log`; an untouched database passes."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
from pathlib import Path
from typing import Callable

import pytest

from audit import config
from audit.cli import main
from audit.removal import connect, create_request, transition
from audit.removal.keys import HMAC_NAME, create_keys, load_keys
from audit.removal.seal import GENESIS, _link_mac, table_state, verify
from audit.removal.store import transaction


def _populate(db: Path) -> None:
    """A request that went through every decision table: transitions, candidates, erase plan, tombstones."""
    conn = connect(db)
    r = create_request(conn, "Grace Hopper", "grace@example.org")
    transition(conn, r.id, "verified")
    with transaction(conn):
        conn.execute("INSERT INTO candidates VALUES (?, 'k1', 'phash', 1.0, 1)", (r.id,))
        conn.execute("INSERT INTO candidates VALUES (?, 'k2', 'clip', 0.99, 0)", (r.id,))
    transition(conn, r.id, "located")
    with transaction(conn):
        for i, name in enumerate(("tombstone", "denylist", "manifest")):
            conn.execute("INSERT INTO erase_plan VALUES (?, ?, ?, '{}', 1700000000)", (r.id, i, name))
        conn.execute("INSERT INTO tombstones (sha256, phash, request_id, added_unix) VALUES (?, ?, ?, 1700000000)",
                     ("a" * 64, "ffd081bd802fc16a", r.id))
    other = create_request(conn, "Ada Lovelace", "ada@example.org")
    transition(conn, other.id, "rejected", reason="identity not proven")
    conn.close()


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("tamper-template")
    _populate(d / "requests.db")
    return d


@pytest.fixture()
def db(template: Path, tmp_path: Path) -> Path:
    shutil.copytree(template, tmp_path / "case")
    return tmp_path / "case" / "requests.db"


def _sql(db: Path, *statements: str) -> None:
    raw = sqlite3.connect(db)
    for s in statements:
        raw.execute(s)
    raw.commit()
    raw.close()


def _recompute_without_key(db: Path) -> None:
    """Edit a decision, then rebuild the chain and the audit log's sha chain as an attacker without the key would."""
    from audit.removal.auditlog import _row_hash

    _sql(db, "UPDATE requests SET state='closed' WHERE id=1")
    raw = sqlite3.connect(db)
    fake = b"\x00" * 32
    prev = GENESIS
    rows = raw.execute("SELECT seq, at_unix, action, request_id, key_hashes FROM audit_log ORDER BY seq").fetchall()
    for seq, at, action, rid, kh in rows:
        h = _row_hash(seq, at, action, rid, kh, prev)
        raw.execute("UPDATE audit_log SET prev_hash=?, row_hash=? WHERE seq=?", (prev, h, seq))
        prev = h
    raw.execute("UPDATE log_head SET head=? WHERE id=1", (prev,))
    last = raw.execute("SELECT max(seq) FROM chain").fetchone()[0]
    state = json.dumps(table_state(raw, fake), sort_keys=True, separators=(",", ":"))
    raw.execute("UPDATE chain SET state=? WHERE seq=?", (state, last))
    raw.commit()
    raw.close()


def _restore_older_copy(db: Path) -> None:
    old = db.read_bytes()
    conn = connect(db)
    transition(conn, 2, "closed")  # a later, sealed change...
    conn.close()
    db.write_bytes(old)  # ...then the older file is put back


def _truncate_heads(db: Path, keep: int = -1) -> None:
    heads = config.removal_heads_file(db)
    lines = heads.read_text().splitlines(keepends=True)
    heads.write_text("".join(lines[:keep]))


def _swap_hmac_key(db: Path) -> None:
    f = config.removal_keys_dir(db) / HMAC_NAME
    os.chmod(f, 0o600)
    f.write_text("11" * 32 + "\n")


def _swap_all_keys_and_reseal(db: Path) -> None:
    """The strongest attack without the keys: new keys, info key id rewritten, chain and head file re-sealed."""
    shutil.rmtree(config.removal_keys_dir(db))
    config.removal_heads_file(db).unlink()
    _sql(db, "UPDATE requests SET state='closed' WHERE id=1", "DELETE FROM chain", "DELETE FROM info WHERE name='key_id'")
    from audit.removal.store import adopt

    conn = sqlite3.connect(db, isolation_level=None)
    adopt(conn, create_keys(db))
    conn.close()


def _reorder_transitions(db: Path) -> None:
    raw = sqlite3.connect(db)
    a, b = raw.execute("SELECT rowid FROM transitions ORDER BY rowid LIMIT 2").fetchall()
    raw.execute("UPDATE transitions SET rowid=-1 WHERE rowid=?", a)
    raw.execute("UPDATE transitions SET rowid=? WHERE rowid=?", (a[0], b[0]))
    raw.execute("UPDATE transitions SET rowid=? WHERE rowid=-1", b)
    raw.commit()
    raw.close()


WIPE = [f"DELETE FROM {t}" for t in ("requests", "transitions", "candidates", "erase_plan", "tombstones", "audit_log",
                                      "log_head", "chain")]

#: (case, tamper, words expected in one of the problems). Each one is a different attack.
CASES: list[tuple[str, Callable[[Path], None], str]] = [
    ("delete a middle transition", lambda db: _sql(db, "DELETE FROM transitions WHERE rowid=2"), "table transitions"),
    ("delete the last audit-log row and fix log_head",
     lambda db: _sql(db, "DELETE FROM audit_log WHERE seq=(SELECT max(seq) FROM audit_log)",
                     "UPDATE log_head SET count=count-1, head=(SELECT row_hash FROM audit_log ORDER BY seq DESC LIMIT 1)"),
     "table audit_log"),
    ("delete the last chain entry", lambda db: _sql(db, "DELETE FROM chain WHERE seq=(SELECT max(seq) FROM chain)"),
     "head file is at entry"),
    ("wipe every table", lambda db: _sql(db, *WIPE), "chain is empty"),
    ("wipe every table and the head file", lambda db: (_sql(db, *WIPE, "DELETE FROM info"), _truncate_heads(db, 0)),
     "head file holds no heads"),
    ("delete the head file", lambda db: config.removal_heads_file(db).unlink(), "head file requests.db.heads is missing"),
    ("restore an older copy of the database", _restore_older_copy, "older copy"),
    ("edit a decision and recompute every chain without the key", _recompute_without_key, "does not verify with the key"),
    ("edit a request's state", lambda db: _sql(db, "UPDATE requests SET state='closed' WHERE id=1"), "table requests"),
    ("edit a rejection reason", lambda db: _sql(db, "UPDATE requests SET reason='x' WHERE id=2"), "table requests"),
    ("unconfirm a hit", lambda db: _sql(db, "UPDATE candidates SET confirmed=0"), "table candidates"),
    ("delete a tombstone", lambda db: _sql(db, "DELETE FROM tombstones"), "table tombstones"),
    ("edit a tombstone's pHash", lambda db: _sql(db, "UPDATE tombstones SET phash='0000000000000000'"), "table tombstones"),
    ("mark an erase step not done", lambda db: _sql(db, "UPDATE erase_plan SET done_unix=NULL WHERE step=2"), "table erase_plan"),
    ("insert a forged request", lambda db: _sql(db, "INSERT INTO requests (subject, contact, state, received_unix, "
                                               "deadline_unix, updated_unix) VALUES ('x', 'y', 'closed', 1, 2, 3)"),
     "table requests"),
    ("reorder transitions", _reorder_transitions, "table transitions"),
    ("truncate the head file by one head", lambda db: _truncate_heads(db), "head file truncated"),
    ("truncate the head file mid-line",
     lambda db: config.removal_heads_file(db).write_bytes(config.removal_heads_file(db).read_bytes()[:-20]), "partial line"),
    ("edit a signed head", lambda db: config.removal_heads_file(db).write_text(
        config.removal_heads_file(db).read_text().replace('"requests":2', '"requests":1')), "no valid signature"),
    ("swap the HMAC key", _swap_hmac_key, "keys swapped"),
    ("swap every key and re-seal (pinned fingerprint)", _swap_all_keys_and_reseal, "not the pinned"),
    ("delete the key-id record", lambda db: _sql(db, "DELETE FROM info WHERE name='key_id'"), "records no key id"),
]


def test_untouched_database_passes(db: Path, capsys) -> None:
    keys = load_keys(db)
    assert keys is not None
    check = verify(sqlite3.connect(db), expect_key=keys.public_id)
    assert check.ok, check.problems
    assert check.entries == check.heads >= 8
    mode = stat.S_IMODE(config.removal_keys_dir(db).stat().st_mode)
    assert mode == 0o700 and all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in config.removal_keys_dir(db).iterdir())
    assert main(["removal", "verify-log", "--removal-db", str(db), "--expect-key", keys.public_id]) == 0
    assert "intact:" in capsys.readouterr().out


@pytest.mark.parametrize("name,tamper,expected", CASES, ids=[c[0] for c in CASES])
def test_tamper_case_detected(db: Path, name: str, tamper: Callable[[Path], None], expected: str, capsys) -> None:
    pinned = load_keys(db)
    assert pinned is not None
    tamper(db)
    check = verify(sqlite3.connect(db), expect_key=pinned.public_id)
    assert not check.ok, name
    assert any(expected in p for p in check.problems), check.problems
    capsys.readouterr()
    assert main(["removal", "verify-log", "--removal-db", str(db), "--expect-key", pinned.public_id]) == 2
    assert "fails verification" in capsys.readouterr().err


def test_tamper_matrix_is_wide_enough() -> None:
    assert len(CASES) >= 15 and len({c[0] for c in CASES}) == len(CASES)


def test_deleted_database_is_not_silently_recreated(db: Path) -> None:
    from audit.errors import RegistryError

    db.unlink()
    with pytest.raises(RegistryError, match="deleted"):
        connect(db)


def test_writes_refused_with_wrong_keys_and_link_mac_is_keyed(db: Path) -> None:
    from audit.errors import RegistryError

    keys = load_keys(db)
    assert keys is not None
    assert _link_mac(keys, 1, 0, "{}", GENESIS) != _link_mac(create_keys(db.parent / "other.db"), 1, 0, "{}", GENESIS)
    _swap_hmac_key(db)
    with pytest.raises(RegistryError, match="not the keys of"):
        create_request(connect(db), "Someone", "s@example.org")


def test_schema_2_file_is_migrated_then_keyed_by_init_keys(tmp_path: Path, capsys) -> None:
    """An existing (schema 2) database: migrated on open (tombstone variants, chain, residuals), readable at once,
    writable only after `init-keys`; its old tombstones still match mirrored copies (approximate mirror hash)."""
    from audit.errors import RegistryError
    from audit.index.hamming import mirror_hash
    from audit.removal import load_tombstones

    db = tmp_path / "old.db"
    raw = sqlite3.connect(db)
    raw.executescript("""
        CREATE TABLE info (name TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO info VALUES ('schema', '2');
        CREATE TABLE tombstones (sha256 TEXT NOT NULL, phash TEXT, request_id INTEGER NOT NULL,
          added_unix INTEGER NOT NULL, PRIMARY KEY (sha256));
        INSERT INTO tombstones VALUES ('""" + "b" * 64 + """', 'ffd081bd802fc16a', 1, 1700000000);""")
    raw.commit()
    raw.close()
    conn = connect(db)
    assert conn.execute("SELECT value FROM info WHERE name='schema'").fetchone()[0] == "3"
    codes = {c for c, _ in load_tombstones(conn).phashes}
    assert codes == {0xFFD081BD802FC16A, int(mirror_hash(0xFFD081BD802FC16A))}
    assert not verify(conn).ok  # no keys yet: nothing can be verified
    with pytest.raises(RegistryError, match="init-keys"):
        create_request(conn, "Someone", "s@example.org")
    assert main(["removal", "init-keys", "--removal-db", str(db)]) == 0
    assert main(["removal", "init-keys", "--removal-db", str(db)]) == 2  # once only
    create_request(conn, "Someone", "s@example.org")
    assert verify(conn).ok
    capsys.readouterr()

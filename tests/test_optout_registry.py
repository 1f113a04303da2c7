"""The SQLite opt-out registry: validation, append-only log, schema version, concurrent writers, import/export."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from audit.errors import InputError, RegistryError
from audit.optout.exchange import export_entries, import_entries
from audit.optout.registry import SCHEMA_VERSION, Registry

D = Path(__file__).parent / "data" / "optout"


def test_add_canonicalises_and_dedupes(tmp_path):
    with Registry(tmp_path / "r.db") as reg:
        e, created = reg.add("domain", "Bücher.Example", source="email", evidence="mail 1")
        assert created and e.value == "xn--bcher-kva.example"
        _, again = reg.add("domain", "xn--BCHER-kva.example.", source="email")
        assert not again
        art, _ = reg.add("artist", "Claude Monét", aliases=["Monet"], scope="all-tdm")
        assert art.value == "claude monet" and art.aliases == ("Monet",)
        with pytest.raises(InputError, match="not a valid url"):
            reg.add("url", "www.example.com/no-scheme")
        with pytest.raises(InputError, match="unknown scope"):
            reg.add("domain", "x.example", scope="everything")
        assert len(reg.frame()) == 2


def test_log_is_append_only_and_records_changes(tmp_path):
    with Registry(tmp_path / "r.db") as reg:
        e, _ = reg.add("sha256", "A" * 64)
        reg.deactivate(e.id, "request withdrawn")
        log = reg.log()
        assert list(log["action"]) == ["add", "deactivate"]
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            reg.conn.execute("DELETE FROM log")
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            reg.conn.execute("UPDATE log SET action='x'")
        assert reg.frame().empty and len(reg.frame(active_only=False)) == 1


def test_future_schema_and_garbage_file_refused(tmp_path):
    db = tmp_path / "future.db"
    con = sqlite3.connect(db)
    con.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    con.close()
    before = db.read_bytes()
    with pytest.raises(RegistryError, match="schema version"):
        Registry(db)
    assert db.read_bytes() == before
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(RegistryError, match="not a usable SQLite"):
        Registry(junk)


_WRITER = """
import sys
from audit.optout.registry import Registry
path, tag, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
with Registry(path) as reg:
    for i in range(n):
        reg.add("url", f"https://{tag}.example/{i}.jpg", source=tag)
"""


def test_two_processes_write_concurrently_nothing_lost(tmp_path):
    # Separate interpreters (not multiprocessing: other tests' AppTest runs leave __main__ pointing at a page).
    db = str(tmp_path / "r.db")
    Registry(db).close()
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, db, t, "150"]) for t in ("a", "b")]
    for p in procs:
        assert p.wait(120) == 0
    with Registry(db) as reg:
        assert len(reg.frame()) == 300
        assert (reg.log()["action"] == "add").sum() == 300


def test_import_export_roundtrip(tmp_path):
    with Registry(tmp_path / "r.db") as reg:
        s = import_entries(reg, D / "registry.csv")
        assert (s.added, s.duplicates) == (5, 0)
        s2 = import_entries(reg, D / "spawning_list.txt", source="spawning")
        assert s2.added == 5
        kinds = reg.frame().groupby("kind").size().to_dict()
        assert kinds == {"artist": 2, "domain": 3, "phash": 1, "sha256": 1, "url": 1, "url_prefix": 2}
        assert import_entries(reg, D / "registry.csv").duplicates == 5  # idempotent
        n_json = export_entries(reg, tmp_path / "out.json")
        n_csv = export_entries(reg, tmp_path / "out.csv")
        n_list = export_entries(reg, tmp_path / "out.txt")
        assert n_json == n_csv == 10 and n_list == 6
    with Registry(tmp_path / "copy.db") as other:
        assert import_entries(other, tmp_path / "out.json").added == 10
        assert import_entries(other, tmp_path / "out.csv").duplicates == 10
        monet = other.frame(kind="artist")
        assert "C. Monet" in monet[monet["display"] == "Claude Monet"]["aliases"].iloc[0]


def test_bad_import_writes_nothing(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("kind,value\ndomain,good.example\nurl,not a url\nsha256,xyz\n")
    with Registry(tmp_path / "r.db") as reg:
        with pytest.raises(InputError, match="2 invalid record"):
            import_entries(reg, bad)
        assert reg.frame().empty
        s = import_entries(reg, bad, skip_invalid=True)
        assert s.added == 1 and [i for i, _ in s.rejected] == [2, 3]

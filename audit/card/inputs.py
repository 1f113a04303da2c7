"""Checks and defaults for the card's optional inputs (opt-out registry, removal requests), shared by the CLI and
the app page. A wrong file (e.g. the two databases swapped in the page's two boxes) is refused with a one-line
error before audit.optout / audit.removal open it, because both of those create their schema in whatever SQLite
file they are given; the check itself opens the file read-only.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from audit import config
from audit.errors import InputError

#: Tables that identify each database (audit/optout/registry.py, audit/removal/store.py).
REGISTRY_TABLES = {"entries"}
REMOVAL_TABLES = {"requests", "tombstones"}


def is_sqlite(p: Path) -> bool:
    with p.open("rb") as fh:
        return fh.read(16) == b"SQLite format 3\x00"


def sqlite_tables(p: Path) -> set[str]:
    """Table names of a SQLite file, opened read-only (the file is never modified)."""
    try:
        conn = sqlite3.connect(f"{p.resolve().as_uri()}?mode=ro", uri=True)
        try:
            return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise InputError(f"{p} is not a readable SQLite file ({exc})", "check the path") from None


def check_registry(path: str | Path) -> Path:
    """An existing opt-out registry file, else InputError naming the file and what it is instead."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"opt-out registry {p} does not exist",
                         "file opt-outs with `audit optout add ... --registry FILE`, or leave the registry out")
    tables = sqlite_tables(p) if is_sqlite(p) else set()
    if not REGISTRY_TABLES <= tables:
        what = "a removal-request database" if REMOVAL_TABLES <= tables else "not an opt-out registry"
        raise InputError(f"{p} is {what} (no 'entries' table)",
                         "pass the opt-out registry as --registry and removal requests as --removal-db")
    return p


def check_requests(path: str | Path) -> Path:
    """An existing removal-request DB or plain key list, else InputError (an opt-out registry is refused)."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"removal requests file {p} does not exist",
                         "pass the request DB of `audit removal` or a text file of erased keys, or leave it out")
    if is_sqlite(p):
        tables = sqlite_tables(p)
        if not REMOVAL_TABLES <= tables:
            what = "an opt-out registry" if REGISTRY_TABLES <= tables else "not a removal-request database"
            raise InputError(f"{p} is {what} (no 'requests'/'tombstones' tables)",
                             "pass the opt-out registry as --registry and removal requests as --removal-db")
    return p


def optional_path(text: str | None) -> Path | None:
    """A path typed into a form: blank means 'not given'."""
    text = (text or "").strip()
    return Path(text).expanduser() if text else None


def file_token(path: Path | None) -> str:
    """Changes whenever the file does (size, mtime, and a SQLite WAL beside it): a cache key for the app."""
    if path is None:
        return ""
    parts = []
    for p in (path, Path(f"{path}-wal")):
        try:
            st = p.stat()
            parts.append(f"{st.st_size}:{st.st_mtime_ns}")
        except OSError:
            parts.append("-")
    return "|".join(parts)


def default_registry() -> str:
    """The registry the app files opt-outs into, if that file exists ('' otherwise)."""
    p = config.optout_registry()
    return str(p) if p.is_file() else ""


def default_requests() -> str:
    """$GENAUDIT_REMOVAL_DB (the DB the removal page and ingest use), if set and present ('' otherwise)."""
    p = config.removal_db_from_env()
    return str(p) if p is not None and p.is_file() else ""

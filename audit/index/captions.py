"""Caption full-text index: SQLite FTS5 (BM25) over each row's caption and author, keyed by the index id.

Why: the in-project CLIP is weak on plain nouns ("house" returned fruit), while a whole-word caption match
is close to the best possible on the reference set (benchmarks/search_quality.py). The file sits beside the
vectors (CAPTIONS_NAME); rows whose key is denylisted are left out when it is written and deleted from it
when a key is denylisted later (`drop_ids`), so an erased subject's caption text does not linger in it.

Tokenizer `porter unicode61 remove_diacritics 2`: case- and accent-folded whole words, with Porter stemming
so "houses" finds "house" and "cats" finds "cat". User input never reaches the FTS5 query parser as syntax:
it is cut into word tokens and each token is quoted (`fts_terms`), so quotes, `*`, `-`, `NEAR`, `AND`,
parentheses and column filters are plain text.
"""

from __future__ import annotations

import os
import re
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from audit.index.layout import CAPTIONS_NAME  # noqa: F401  (re-exported: the file this module writes)

#: File name of the caption index inside an index dir (moves to audit.index.layout with the other names).
TOKENIZER = "porter unicode61 remove_diacritics 2"
#: Words that carry no subject on their own: matched when every word of the query matches (AND), but not
#: enough alone to make a row a keyword hit (the OR fallback drops them).
STOPWORDS = frozenset("a an and at by for from in into is of on or the to with".split())
_WORD = re.compile(r"\w+", re.UNICODE)
_BATCH = 10_000


@dataclass(frozen=True)
class KeywordMatch:
    """One caption hit: the index id, its BM25 score (higher is better) and which columns matched."""

    id: int
    score: float
    columns: tuple[str, ...]


def fts_terms(text: str) -> list[str]:
    """The query's word tokens, each as a quoted FTS5 string (so no character of user input is syntax)."""
    return ['"' + w.replace('"', '""') + '"' for w in _WORD.findall(str(text).lower())]


def _connect(path: Path, readonly: bool) -> sqlite3.Connection:
    if readonly:
        return sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)
    return sqlite3.connect(path)


def write_caption_index(path: str | Path, ids: Sequence[int], captions: Iterable[object], authors: Iterable[object]) -> Path:
    """Write a fresh FTS5 file at `path` (temp file, then rename): one row per id, rowid = the index id."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    conn = _connect(tmp, readonly=False)
    try:
        conn.execute(f"CREATE VIRTUAL TABLE captions USING fts5(caption, author, tokenize='{TOKENIZER}')")
        rows = ((int(i), _text(c), _text(a)) for i, c, a in zip(ids, captions, authors))
        with conn:
            batch: list[tuple[int, str, str]] = []
            for r in rows:
                batch.append(r)
                if len(batch) >= _BATCH:
                    conn.executemany("INSERT INTO captions(rowid, caption, author) VALUES (?, ?, ?)", batch)
                    batch.clear()
            conn.executemany("INSERT INTO captions(rowid, caption, author) VALUES (?, ?, ?)", batch)
        conn.execute("INSERT INTO captions(captions) VALUES ('optimize')")
        conn.commit()
    finally:
        conn.close()
    os.replace(tmp, path)
    return path


def _text(v: object) -> str:
    """Column value as text; missing values (None, NaN, pd.NA) as ''."""
    if v is None or (isinstance(v, float) and v != v) or type(v).__name__ == "NAType":
        return ""
    return str(v)


def drop_ids(path: str | Path, ids: Iterable[int]) -> int:
    """Delete rows from an existing caption index (denylisted or erased ids); returns how many were there."""
    path = Path(path)
    ids = [int(i) for i in ids]
    if not path.is_file() or not ids:
        return 0
    conn = _connect(path, readonly=False)
    try:
        with conn:
            before = conn.total_changes
            conn.executemany("DELETE FROM captions WHERE rowid = ?", [(i,) for i in ids])
            return conn.total_changes - before
    finally:
        conn.close()


class CaptionIndex:
    """Read side of the caption index. A connection per query: cheap, and safe from Streamlit's threads."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def count(self) -> int:
        with closing(_connect(self.path, readonly=True)) as conn:
            return int(conn.execute("SELECT count(*) FROM captions").fetchone()[0])

    def search(self, text: str, k: int, columns: Sequence[str] = ("caption",), phrase: bool = False,
               exclude: Iterable[int] = ()) -> list[KeywordMatch]:
        """Rows matching the words of `text`, best BM25 first, at most k.

        Every word (AND) first; if fewer than k rows match, rows matching any non-stopword follow (OR), so a
        two-word query still finds the rows with one of them. `phrase=True` asks for the words adjacent and in
        order (a person's name). Ids in `exclude` (the denylist) are never returned."""
        terms = fts_terms(text)
        if not terms or k <= 0:
            return []
        cols = "{" + " ".join(columns) + "}"
        queries = [f"{cols} : ({' '.join(terms)})" if not phrase else f"{cols} : ({' + '.join(terms)})"]
        loose = [t for t in terms if t.strip('"') not in STOPWORDS]
        if not phrase and len(terms) > 1 and loose:
            queries.append(f"{cols} : ({' OR '.join(loose)})")
        denied = {int(i) for i in exclude}
        out: dict[int, KeywordMatch] = {}
        with closing(_connect(self.path, readonly=True)) as conn:
            for q in queries:
                if len(out) >= k:
                    break
                need = k + len(denied)
                rows = conn.execute("SELECT rowid, bm25(captions), highlight(captions, 0, char(1), ''), "
                                    "highlight(captions, 1, char(1), '') FROM captions WHERE captions MATCH ? "
                                    "ORDER BY rank LIMIT ?", (q, need)).fetchall()
                for rowid, bm25, cap_h, auth_h in rows:
                    if rowid in denied or rowid in out:
                        continue
                    matched = tuple(c for c, h in (("caption", cap_h), ("author", auth_h)) if h and "\x01" in h)
                    out[int(rowid)] = KeywordMatch(int(rowid), -float(bm25), matched)
                    if len(out) >= k:
                        break
        return list(out.values())


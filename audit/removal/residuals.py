"""Residual sweep: artefacts made before an erasure that still name the erased items or embed their image.

An erasure rewrites the manifest and the index, but a memorisation report made earlier embeds the photo (base64) and
keeps key, caption and path; a card.json or a dataset's meta.json keeps the key and source hash (issue 16). The sweep
walks given roots and lists every file that still holds, for one request:

- a manifest key (while the request is open: closed requests keep only salted hashes) or an erased image's sha256,
  as a whole word in text, JSON, HTML or a parquet string column;
- an image whose pHash is within the tombstone distance of the erased image or a stored variant: image files, and
  images embedded in HTML as base64 data URIs.

`redact` rewrites reports and cards without the item, each file atomically (temp + rename): HTML loses the innermost
block (`div`, `tr`, `li`) that holds it, JSON the list items / values, text the lines, parquet the rows. Plain image
files are listed, never deleted here (they may be someone else's). The index's denylist.parquet is the removal
mechanism itself and is skipped; the request database and its keys/heads are never touched.
"""

from __future__ import annotations

import base64
import io
import json
import re
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import pandas as pd
from PIL import Image, UnidentifiedImageError

from audit.atomic import atomic_path, write_text
from audit.index.layout import DENYLIST_NAME
from audit.perceptual import phash_hex
from audit.removal.auditlog import append_log
from audit.removal.store import transaction
from audit.removal.tombstones import Tombstones, load_tombstones

TEXT_SUFFIXES = {".json", ".jsonl", ".txt", ".md", ".csv", ".tsv", ".html", ".htm", ".xml", ".yaml", ".yml"}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp"}
SKIP_NAMES = {DENYLIST_NAME}
#: Files larger than this are listed as unscanned rather than read whole.
MAX_BYTES = 64 * 1024 * 1024
ERASED = "[erased on request]"
_DATA_URI = re.compile(r"data:image/[a-z+.-]+;base64,([A-Za-z0-9+/=\s]+)")
_BLOCKS = (re.compile(r"<div\b[^>]*>(?:(?!<div\b).)*?</div>", re.S | re.I), re.compile(r"<tr\b[^>]*>.*?</tr>", re.S | re.I),
           re.compile(r"<li\b[^>]*>.*?</li>", re.S | re.I))


@dataclass(frozen=True)
class Needles:
    """What identifies one request's items: words (keys, sha256s) and the request's tombstones (pHash codes)."""

    request_id: int
    words: tuple[str, ...]
    tombstones: Tombstones

    def pattern(self) -> re.Pattern[str] | None:
        if not self.words:
            return None
        alt = "|".join(re.escape(w) for w in sorted(self.words, key=len, reverse=True))
        return re.compile(rf"(?<![A-Za-z0-9_.-])(?:{alt})(?![A-Za-z0-9_-])")

    def image_matches(self, data: bytes) -> bool:
        try:
            with Image.open(io.BytesIO(data)) as im:
                if im.width * im.height > 40_000_000:
                    return False
                return self.tombstones.reason(None, phash_hex(im.convert("RGB"))) is not None
        except (UnidentifiedImageError, OSError, ValueError):
            return False


@dataclass(frozen=True)
class Residual:
    """One artefact that still holds the item: why (`found`), and whether it was redacted."""

    path: str
    kind: str
    found: tuple[str, ...]
    action: str  # "found", "redacted", "listed (image file: delete or regenerate it)", "unscanned (too large)"


def needles(conn: sqlite3.Connection, request_id: int) -> Needles:
    """Keys from the erase plan or confirmed candidates (raw only while the request is open), sha256s and pHash
    codes from the request's tombstones."""
    rid = int(request_id)
    keys: set[str] = set()
    for (arg,) in conn.execute("SELECT arg FROM erase_plan WHERE request_id=? ORDER BY step LIMIT 1", (rid,)):
        a = json.loads(arg)
        if not a.get("minimised"):
            keys |= {str(k) for k in a.get("keys") or []}
    state = conn.execute("SELECT state FROM requests WHERE id=?", (rid,)).fetchone()
    if state is not None and state[0] != "closed":
        keys |= {str(r[0]) for r in conn.execute("SELECT key FROM candidates WHERE request_id=? AND confirmed=1", (rid,))}
    shas = {str(r[0]).lower() for r in conn.execute("SELECT sha256 FROM tombstones WHERE request_id=?", (rid,))}
    everything = load_tombstones(conn)
    mine = Tombstones({s: rid for s in shas}, tuple(p for p in everything.phashes if p[1] == rid), everything.max_distance)
    return Needles(rid, tuple(sorted(k for k in keys | shas if k)), mine)


def _walk(roots: Iterable[str | Path]) -> Iterable[tuple[Path, Path]]:
    for root in roots:
        root = Path(root).resolve()
        if root.is_file():
            yield root.parent, root
            continue
        for p in sorted(root.rglob("*")):
            if p.is_file() and not p.is_symlink() and p.resolve().is_relative_to(root):
                yield root, p


def _skip(p: Path) -> bool:
    n = p.name
    return (n in SKIP_NAMES or n.endswith((".db", ".db-wal", ".db-shm", ".heads", ".sqlite", ".npy", ".npz", ".faiss"))
            or any(part.endswith(".keys") for part in p.parts))


def _text_hits(text: str, n: Needles, pat: re.Pattern[str] | None, html: bool) -> list[str]:
    found = ["key or sha256"] if pat is not None and pat.search(text) else []
    if html and n.tombstones.phashes:
        for m in _DATA_URI.finditer(text):
            try:
                data = base64.b64decode(re.sub(r"\s", "", m.group(1)), validate=False)
            except ValueError:
                continue
            if n.image_matches(data):
                found.append("embedded image (pHash)")
                break
    return found


def _redact_html(text: str, n: Needles, pat: re.Pattern[str] | None) -> str:
    def holds(block: str) -> bool:
        if pat is not None and pat.search(block):
            return True
        return any(n.image_matches(base64.b64decode(re.sub(r"\s", "", m.group(1)))) for m in _DATA_URI.finditer(block))

    for rx in _BLOCKS:
        text = rx.sub(lambda m: f"<p>{ERASED}</p>" if holds(m.group(0)) else m.group(0), text)
    text = _DATA_URI.sub(lambda m: "data:," if n.image_matches(base64.b64decode(re.sub(r"\s", "", m.group(1)))) else m.group(0), text)
    return pat.sub(ERASED, text) if pat is not None else text


def _redact_json(obj: Any, pat: re.Pattern[str]) -> Any:
    if isinstance(obj, dict):
        return {k: _redact_json(v, pat) for k, v in obj.items() if not pat.search(str(k))}
    if isinstance(obj, list):
        return [_redact_json(v, pat) for v in obj if not pat.search(json.dumps(v, default=str))]
    if isinstance(obj, str) and pat.search(obj):
        return ERASED
    return obj


def _scan_parquet(p: Path, pat: re.Pattern[str] | None, redact: bool) -> list[str]:
    """Rows with a key or sha256 in any string column (Python regex: the word boundaries need look-behind)."""
    if pat is None:
        return []
    df = pd.read_parquet(p)
    hit = pd.Series(False, index=df.index)
    for name in df.columns:
        col = df[name]
        if col.dtype == object or pd.api.types.is_string_dtype(col):
            hit |= col.map(lambda v: isinstance(v, str) and pat.search(v) is not None).astype(bool)
    if not hit.any():
        return []
    if redact:
        with atomic_path(p, ".parquet") as tmp:
            df[~hit].to_parquet(tmp, index=False)
    return [f"{int(hit.sum())} row(s) with a key or sha256"]


def sweep(conn: sqlite3.Connection, request_id: int, roots: Iterable[str | Path], redact: bool = False) -> list[Residual]:
    """Every artefact under `roots` still holding the request's items; with `redact`, reports and cards rewritten."""
    n = needles(conn, request_id)
    pat = n.pattern()
    out: list[Residual] = []
    for _, p in _walk(roots):
        suffix = p.suffix.lower()
        if _skip(p) or suffix not in TEXT_SUFFIXES | IMAGE_SUFFIXES | {".parquet"}:
            continue
        if p.stat().st_size > MAX_BYTES:
            out.append(Residual(str(p), suffix.lstrip("."), ("not scanned",), "unscanned (too large)"))
            continue
        if suffix in IMAGE_SUFFIXES:
            if n.tombstones.phashes and n.image_matches(p.read_bytes()):
                out.append(Residual(str(p), "image", ("image (pHash)",), "listed (image file: delete or regenerate it)"))
            continue
        if suffix == ".parquet":
            found = _scan_parquet(p, pat, redact)
            if found:
                out.append(Residual(str(p), "parquet", tuple(found), "redacted" if redact else "found"))
            continue
        text = p.read_text(encoding="utf-8", errors="replace")
        html = suffix in (".html", ".htm")
        found = _text_hits(text, n, pat, html)
        if not found:
            continue
        if redact:
            if html:
                new = _redact_html(text, n, pat)
            elif suffix == ".json" and pat is not None:
                try:
                    new = json.dumps(_redact_json(json.loads(text), pat), indent=2, ensure_ascii=False) + "\n"
                except ValueError:
                    new = "\n".join(line for line in text.splitlines() if not pat.search(line)) + "\n"
            else:
                new = "\n".join(line for line in text.splitlines() if pat is None or not pat.search(line)) + "\n"
            write_text(p, new)
        out.append(Residual(str(p), "html" if html else suffix.lstrip("."), tuple(found), "redacted" if redact else "found"))
    return out


def record(conn: sqlite3.Connection, request_id: int, found: list[Residual]) -> None:
    """Keep what was found/redacted (paths and reasons only) in the sealed `residuals` table, for the letter."""
    now = int(time.time())
    with transaction(conn):
        conn.executemany("INSERT INTO residuals VALUES (?, ?, ?, ?, ?, ?)",
                         [(int(request_id), r.path, r.kind, json.dumps(list(r.found)), r.action, now) for r in found])
        append_log(conn, f"residuals:{sum(r.action == 'redacted' for r in found)}-redacted:{len(found)}-found",
                   int(request_id), [])

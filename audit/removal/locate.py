"""Find a data subject's items: by photo (perceptual hash + CLIP), by URL, by name in caption/author.

Hits become *candidates* with the method and score that found them; nothing is erased until a reviewer
confirms which candidates really show the subject (`confirm_hits`).
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from audit.errors import InputError
from audit.images import load_upload
from audit.index.cache import cached_index
from audit.removal.auditlog import append_log
from audit.removal.store import RequestError, get_request, transaction, transition

#: CLIP cosine at which an image-search hit is kept as a candidate: near-copy level, since unrelated photos
#: reach ~0.96 under weak models; lower it (--min-clip) with a well-trained CLIP to find other photos of the subject.
DEFAULT_MIN_CLIP = 0.98


@dataclass(frozen=True)
class Candidate:
    key: str
    method: str
    score: float
    confirmed: bool


def _norm_url(u: str) -> str:
    u = str(u).strip().lower()
    u = re.sub(r"^https?://", "", u)
    u = re.sub(r"^www\.", "", u)
    return u.rstrip("/")


def find_hits(index_dir: str | Path, photo: str | Path | bytes | None = None, url: str | None = None,
              name: str | None = None, k: int = 10, min_clip: float = DEFAULT_MIN_CLIP) -> list[Candidate]:
    """Search one index by any of photo / url / name; returns candidates (best score first per method).

    The opened index is cached per process (audit.index.cache) and reopened when the index is rebuilt."""
    from audit.records import read_manifest

    if photo is None and not url and not name:
        raise InputError("nothing to search by", "pass --photo, --url and/or --name")
    idx = cached_index(index_dir)
    denied = idx.denied_keys
    out: list[Candidate] = []
    if photo is not None:
        if isinstance(photo, bytes):  # an upload in the app: decoded under the image policy, no temp file
            photo = load_upload(photo, "the subject's photo")  # type: ignore[assignment]
        elif not Path(photo).is_file():
            raise InputError(f"photo {photo} does not exist", "pass the image the subject sent")
        for h in idx.near_duplicates(photo):
            out.append(Candidate(h.key, h.method, round(h.score, 4), False))
        for h in idx.search_image(photo, k=k):
            if h.score >= min_clip:
                out.append(Candidate(h.key, "clip-image", round(h.score, 4), False))
    if url:
        df = read_manifest(idx.dataset_dir)
        df = df[~df["key"].astype(str).isin(denied)]
        want = _norm_url(url)
        for key, u in zip(df["key"], df["url"]):
            if isinstance(u, str) and _norm_url(u) == want:
                out.append(Candidate(str(key), "url", 1.0, False))
    if name:
        pat = re.compile(r"(?<!\w)" + r"\s+".join(map(re.escape, name.split())) + r"(?!\w)", re.IGNORECASE)
        if idx.captions is not None:
            # the caption index finds the rows holding the name's words in a row (a superset of the pattern's
            # matches; denylisted rows are not in it), so only those rows are read and checked
            found = idx.keyword_matches(name, idx.count, columns=("caption", "author"), phrase=True)
            df = idx.rows([m.id for m in found]) if found else None
        else:  # an index from before caption search: scan the manifest
            df = read_manifest(idx.dataset_dir)
            df = df[~df["key"].astype(str).isin(denied)]
        if df is not None:
            for key, cap, auth in zip(df["key"], df["caption"], df["author"]):
                for col, text in (("author", auth), ("caption", cap)):
                    if isinstance(text, str) and pat.search(text):
                        out.append(Candidate(str(key), f"name-{col}", 1.0, False))
    return out


def locate(conn: sqlite3.Connection, request_id: int, index_dir: str | Path, *, photo: str | Path | bytes | None = None,
           url: str | None = None, name: str | None = None, k: int = 10, min_clip: float = DEFAULT_MIN_CLIP,
           actor: str = "") -> list[Candidate]:
    """Store hits as candidates of a verified request (→ located). No hit at all is an error, not a silent pass."""
    req = get_request(conn, request_id)
    if req.state not in ("verified", "located"):
        raise RequestError(f"request #{request_id} is '{req.state}'; locate needs 'verified' (identity checked first)",
                           "verify the subject's identity, then `audit removal move ID verified`")
    hits = find_hits(index_dir, photo, url, name, k, min_clip)
    if not hits:
        what = ", ".join(f"{n}" for n, v in (("photo", photo is not None), ("url", url), ("name", name)) if v)
        raise InputError(f"nothing in {index_dir} matches the {what} of request #{request_id}",
                         "try another photo, the URL or the name; or answer the subject that no data was found")
    with transaction(conn):
        for c in hits:
            conn.execute("INSERT INTO candidates (request_id, key, method, score) VALUES (?, ?, ?, ?) "
                         "ON CONFLICT(request_id, key, method) DO UPDATE SET score=max(score, excluded.score)",
                         (int(request_id), c.key, c.method, c.score))
        append_log(conn, "candidates", int(request_id), sorted({c.key for c in hits}))
    if req.state == "verified":
        transition(conn, request_id, "located", expected="verified", actor=actor)
    return candidates(conn, request_id)


def candidates(conn: sqlite3.Connection, request_id: int) -> list[Candidate]:
    get_request(conn, request_id)
    return [Candidate(r["key"], r["method"], float(r["score"]), bool(r["confirmed"])) for r in conn.execute(
        "SELECT * FROM candidates WHERE request_id=? ORDER BY score DESC, key, method", (int(request_id),))]


def confirmed_keys(conn: sqlite3.Connection, request_id: int) -> list[str]:
    return [r[0] for r in conn.execute("SELECT DISTINCT key FROM candidates WHERE request_id=? AND confirmed=1 ORDER BY key",
                                       (int(request_id),))]


def confirm_hits(conn: sqlite3.Connection, request_id: int, keys: list[str]) -> list[str]:
    """Mark the candidates that show the subject; keys that were never candidates are refused."""
    req = get_request(conn, request_id)
    if req.state != "located":
        raise RequestError(f"request #{request_id} is '{req.state}'; confirm hits after `audit removal locate`")
    if not keys:
        raise InputError("no keys given", "pass the candidate keys that show the subject")
    known = {c.key for c in candidates(conn, request_id)}
    unknown = [k for k in keys if k not in known]
    if unknown:
        raise InputError(f"key(s) {', '.join(unknown[:5])} are not candidates of request #{request_id}",
                         f"see them with `audit removal show {request_id}`")
    with transaction(conn):
        conn.executemany("UPDATE candidates SET confirmed=1 WHERE request_id=? AND key=?", [(int(request_id), k) for k in keys])
        append_log(conn, "confirm-hits", int(request_id), keys)
    return confirmed_keys(conn, request_id)

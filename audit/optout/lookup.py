"""Offline "Have I Been Trained?": is this artist named, or this image (near-)duplicated, in a training set?

Artist: the same token join as `check` over author and caption (word-boundary exact, with spans); on an index
dir with a caption index only the rows holding one of the name's words are checked (audit.index.captions
tokenises as `normalise.name_tokens` does: case, accents, apostrophes, underscores), and denylisted rows
are never returned. Image: perceptual-hash near-duplicates and CLIP similarity through the process-wide
opened-index cache (`audit.index.cache`).
Each hit says which evidence matched (`evidence`: caption words, perceptual hash, CLIP).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from audit import config
from audit.errors import InputError
from audit.images import load_rgb
from audit.index import layout
from audit.index.cache import cached_index
from audit.index.captions import STOPWORDS, CaptionIndex
from audit.optout import normalise as N
from audit.optout.match import artist_patterns, find_names


@dataclass(frozen=True)
class LookupHit:
    """One training item found, and why."""

    query: str
    key: str
    path: str
    method: str      # author | caption | phash | clip
    score: float     # 1.0 for name hits; Hamming distance for phash; cosine for clip
    reason: str
    caption: str = ""
    author: str = ""
    evidence: str = ""  # caption words (name in author/caption) | perceptual hash | CLIP

    #: Column order of a table of lookup hits (audit.index.search.hits_frame).
    COLUMNS: ClassVar[tuple[str, ...]] = ("query", "key", "method", "evidence", "score", "reason", "author", "caption",
                                          "path")


def _rows(source: str | Path, words: list[str] | None = None) -> pd.DataFrame:
    """Items of an index dir (ids.parquet, denylisted rows left out; with `words` and a caption index, only rows
    holding one of them) or a dataset dir / manifest."""
    from audit.records import manifest_path, read_manifest

    p = Path(source)
    if layout.is_index_dir(p):
        from audit.index.denylist import read_denylist

        df = layout.read_ids(p)
        captions = p / layout.CAPTIONS_NAME
        if words and captions.is_file() and not any(w in STOPWORDS for w in words):
            found = CaptionIndex(captions).search(" ".join(words), len(df), columns=("caption", "author"))
            df = df[df["id"].isin([m.id for m in found])]
        denied = set(read_denylist(p)["key"].astype(str))
        return df[~df["key"].astype(str).isin(denied)] if denied else df
    if not manifest_path(p).is_file():
        raise InputError(f"{p} is neither an index dir (ids.parquet) nor a dataset/manifest", "pass --index INDEX_DIR")
    return read_manifest(p)


def parse_aliases(text: str) -> tuple[str, ...]:
    """Other names of an artist typed as one comma-separated line ("Monet, C. Monet"); blanks dropped."""
    return tuple(a.strip() for a in (text or "").split(",") if a.strip())


def lookup_artist(name: str, source: str | Path, aliases: tuple[str, ...] = (), limit: int | None = None) -> list[LookupHit]:
    """Training items naming `name` (or an alias) in author or caption, with the matched span."""
    toks = N.name_tokens(name)
    if not toks:
        raise InputError(f"artist name '{name}' has no letters or digits")
    pats_df = artist_patterns(pd.DataFrame({"id": [0], "kind": ["artist"], "display": [name],
                                            "aliases": [json.dumps(list(aliases))]}))
    words = sorted({t for n in (name, *aliases) for t in N.name_tokens(n)})
    df = _rows(source, words).reset_index(drop=True)
    hits: list[LookupHit] = []
    for fld in ("author", "caption"):
        if fld not in df:
            continue
        found = find_names(df[fld], pats_df, proper_noun_single=(fld != "author"))
        for r in found.itertuples(index=False):
            row = df.iloc[int(r.row)]
            text = str(row[fld])
            span = N.find_span(text, r.toks)
            matched = text[span[0]:span[1]] if span else " ".join(r.toks)
            hits.append(LookupHit(name, str(row["key"]), str(row.get("path", "")), fld, 1.0,
                                  f"{fld} names '{matched}'" + (f" (alias '{r.pattern}')" if r.pattern != name else ""),
                                  _text(row.get("caption")), _text(row.get("author")), "caption words"))
    hits.sort(key=lambda h: (h.method != "author", h.key))
    return hits[:limit] if limit else hits


def _text(v: object) -> str:
    """A cell as text; missing (None, NaN, pd.NA: an ingested folder has no authors) as ''."""
    return "" if v is None or bool(pd.isna(v)) else str(v)


def neighbours_above(idx, vecs, min_score: float, *, start_k: int = 64, cap: int = 100_000):
    """(scores, ids) of every index item at cosine >= min_score for each query vector, not just a top-k:
    k grows ×4 while some query's k-th neighbour is still above the threshold (an artist's work copied
    hundreds of times must be found hundreds of times). Entries below the threshold have id -1."""
    k = max(1, min(start_k, idx.count, cap))
    while True:
        scores, ids = idx.search_vectors(np.asarray(vecs, dtype=np.float32), k)
        if k >= min(idx.count, cap) or not ((ids[:, -1] >= 0) & (scores[:, -1] >= min_score)).any():
            break
        k = min(idx.count, cap, k * 4)
    ids = np.where(scores >= min_score, ids, -1)
    return scores, ids


def lookup_image(image: str | Path | bytes, index_dir: str | Path, *, k: int = 10_000, min_score: float = 0.9,
                 max_distance: int = config.PHASH_NEAR_DUPLICATE, label: str | None = None) -> list[LookupHit]:
    """Near-duplicates (perceptual hash) and CLIP-similar items (cosine >= min_score, at most k) of one image."""
    img = load_rgb(image)
    image = label or ("<upload>" if isinstance(image, bytes) else str(image))
    idx = cached_index(index_dir)
    out: dict[tuple[str, str], LookupHit] = {}
    for h in idx.near_duplicates(img, max_distance=max_distance):
        bits = int(round((1.0 - float(h.score)) * 64))  # the index scores near-duplicates as 1 - d/64
        out[(h.key, "phash")] = LookupHit(
            str(image),
            h.key,
            str(h.path),
            "phash",
            float(bits),
            f"perceptual hash {bits} bits away (≤ {max_distance}; {h.method})",
            h.caption or "",
            h.author or "",
            "perceptual hash",
        )
    scores, ids = neighbours_above(idx, idx.embedder.embed_images([img], progress=False), min_score, start_k=20, cap=k)
    keep = ids[0] >= 0
    rows = idx.rows(ids[0][keep]) if keep.any() else None
    for sc, rec in zip(scores[0][keep], rows.to_dict("records") if rows is not None else []):
        key = str(rec["key"])
        out[(key, "clip")] = LookupHit(
            str(image),
            key,
            str(idx.confined_path(rec.get("path"), key)),
            "clip",
            float(sc),
            f"CLIP cosine {sc:.3f} ≥ {min_score}",
            str(rec.get("caption") or ""),
            str(rec.get("author") or ""),
            "CLIP",
        )
    return sorted(out.values(), key=lambda h: (h.method != "phash", -h.score if h.method == "clip" else h.score))




def file_artist_optout(
    registry: str | Path, name: str, aliases: tuple[str, ...] = (), *, scope: str = "ai-training", source: str = "app", evidence: str = ""
):
    """Record an artist opt-out (name + aliases) in the SQLite registry, creating the file if needed.

    Returns (Entry, created); re-filing the same artist and scope is a no-op. Bad input raises InputError.
    """
    from audit.optout.registry import Registry

    if not name or not name.strip():
        raise InputError("artist name is empty", "type the name the artist is credited under")
    if not str(registry).strip():
        raise InputError("registry file path is empty", f"type a path such as optout.db (or set {config.ENV_OPTOUT_REGISTRY})")
    with Registry(Path(registry).expanduser(), create=True) as reg:
        return reg.add("artist", name.strip(), aliases=aliases, scope=scope, source=source, evidence=evidence)


def lookup_url(url: str, source: str | Path) -> list[LookupHit]:
    """Training items whose source URL is `url`, or lies under it when it ends with '/' (a gallery or site)."""
    from audit.optout.registry import canonical_value

    text = (url or "").strip()
    kind = "url_prefix" if text.endswith("/") else "url"
    want = canonical_value(kind, text)  # InputError for a non-URL, with an example
    df = _rows(source)
    if "url" not in df:
        return []
    hits = []
    for row in df[df["url"].notna()].to_dict("records"):
        key = N.url_key(str(row["url"]))
        if key is None or not (key == want if kind == "url" else key.startswith(want)):
            continue
        hits.append(LookupHit(text, str(row["key"]), str(row.get("path", "")), "url", 1.0,
                              f"source URL {row['url']}", _text(row.get("caption")), _text(row.get("author")), "URL"))
    return sorted(hits, key=lambda h: h.key)


def artist_optouts(registry: str | Path, name: str, active_only: bool = True) -> list[Any]:
    """The registry's artist entries naming `name` (as display name or alias); [] when the registry does not exist.

    Why: an artist looking themselves up must see "opted out on DATE", not be invited to file the same opt-out again."""
    from audit.optout.registry import Registry, canonical_value

    p = Path(registry).expanduser()
    if not str(registry).strip() or not p.is_file():
        return []
    want = canonical_value("artist", name)
    with Registry(p, create=False) as reg:
        df = reg.frame(kind="artist", active_only=active_only)
        ids = [int(i) for i, v, a in zip(df["id"], df["value"], df["aliases"])
               if v == want or want in {" ".join(N.name_tokens(x)) for x in json.loads(a or "[]")}]
        return [reg.get(i) for i in ids]


def withdraw_optout(registry: str | Path, entry_id: int, reason: str) -> Any:
    """Withdraw one entry (kept, marked inactive, logged): the artist changed their mind."""
    from audit.optout.registry import Registry

    p = Path(registry).expanduser()
    if not p.is_file():
        raise InputError(f"opt-out registry {p} does not exist", "pick the workspace whose registry holds the entry")
    if not (reason or "").strip():
        raise InputError("a withdrawal needs a reason", "type why the opt-out is withdrawn (e.g. the artist's e-mail)")
    with Registry(p, create=False) as reg:
        return reg.deactivate(int(entry_id), reason.strip())

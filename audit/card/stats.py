"""Column statistics for a dataset card: counts with unknowns kept, caption language, duplicate clusters.

Everything is vectorised over the manifest; near-duplicate clustering is exact multi-index hashing (audit.index.hamming),
never all pairs.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Iterable, Sequence
from urllib.parse import urlsplit

import numpy as np
import pandas as pd

from audit.index.hamming import MIRROR_MASK, hash_distance, mirror_hash, self_pairs  # noqa: F401  (card callers use them via this module)

UNKNOWN = "(unknown)"

#: Caption language heuristic: Unicode script first, then stop-word votes among Latin-script languages.
LANGUAGE_METHOD = ("offline heuristic: Unicode script of the letters (Cyrillic, Greek, Arabic, Hebrew, CJK, "
                   "Hangul, Devanagari, Thai), then for Latin script the most frequent stop words among "
                   "en/de/fr/es/it/nl/pt (at least 1 hit, else 'latin-other'); short captions are unreliable")
_STOPWORDS = {
    "en": "the a an of and with in on to is for by at from this that".split(),
    "de": "der die das und mit ein eine von zu ist im auf für den dem des".split(),
    "fr": "le la les et avec un une des du de en sur pour est au aux".split(),
    "es": "el la los las y con un una del de en por para es al".split(),
    "it": "il lo la gli le e con un una del della di in per è al".split(),
    "nl": "de het een en met van in op voor is aan bij".split(),
    "pt": "o a os as e com um uma do da de em por para é ao".split(),
}
_SCRIPTS = [("cyrillic", "\u0400-\u04ff"), ("greek", "\u0370-\u03ff"), ("arabic", "\u0600-\u06ff"),
            ("hebrew", "\u0590-\u05ff"), ("cjk", "\u3040-\u30ff\u4e00-\u9fff"), ("hangul", "\uac00-\ud7af"),
            ("devanagari", "\u0900-\u097f"), ("thai", "\u0e00-\u0e7f")]
_SCRIPT_RES = [(name, re.compile(f"[{rng}]")) for name, rng in _SCRIPTS]
_LATIN = re.compile(r"[A-Za-zÀ-ÿ]")
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


def clean(series: pd.Series) -> pd.Series:
    """Strings with missing/blank values as UNKNOWN, so they are counted, never dropped."""
    s = series.astype("string").str.strip()
    return s.mask(s.isna() | (s == ""), UNKNOWN).astype(object)


def counts(series: pd.Series) -> list[tuple[str, int]]:
    """(value, rows) most frequent first, unknown included."""
    vc = clean(series).value_counts(sort=True)
    return [(str(k), int(v)) for k, v in vc.items()]


def top_and_tail(items: list[tuple[str, int]], top: int) -> tuple[list[tuple[str, int]], int, int]:
    """The first `top` values, plus how many further values there are and how many rows they cover."""
    tail = items[top:]
    return items[:top], len(tail), int(sum(c for _, c in tail))


def source_name(series: pd.Series) -> pd.Series:
    """'debian:openclipart-svg=1:0.18:usr/…' -> 'debian:openclipart-svg' (origin + package, no version/path)."""
    s = clean(series)
    short = s.str.extract(r"^([^:=]+:[^=:/]+)", expand=False)
    return short.fillna(s).astype(object)


def domains(urls: pd.Series) -> pd.Series:
    def host(u: object) -> str:
        if u is None or u is pd.NA or (isinstance(u, float) and np.isnan(u)) or not str(u).strip():
            return UNKNOWN
        try:
            h = urlsplit(str(u).strip()).hostname
        except ValueError:
            return "(malformed url)"
        return h.removeprefix("www.") if h else "(malformed url)"

    uniq = {u: host(u) for u in pd.unique(urls.astype(object))}
    return urls.astype(object).map(uniq)


def formats(paths: pd.Series) -> pd.Series:
    ext = clean(paths).str.extract(r"\.([A-Za-z0-9]{1,5})$", expand=False).str.lower()
    return ext.replace({"jpeg": "jpg", "tif": "tiff"}).fillna(UNKNOWN).astype(object)


def caption_language(text: object) -> str:
    if text is None or text is pd.NA or (isinstance(text, float) and np.isnan(text)) or not str(text).strip():
        return UNKNOWN
    t = str(text)
    letters = [c for c in t if c.isalpha()]
    if not letters:
        return "no letters"
    for name, rx in _SCRIPT_RES:
        if len(rx.findall(t)) * 2 >= len(letters):
            return name
    if not _LATIN.search(t):
        return "other script"
    words = [w.lower() for w in _WORD.findall(t)]
    votes: Counter[str] = Counter()
    for lang, stop in _STOPWORDS.items():
        sw = set(stop)
        votes[lang] = sum(w in sw for w in words)
    lang, n = max(votes.items(), key=lambda kv: (kv[1], kv[0] == "en"))
    return lang if n >= 1 else "latin-other"


def caption_stats(captions: pd.Series) -> dict:
    """Length in words and characters (known captions only) and language counts (unknown counted)."""
    s = captions.astype("string")
    known = s[s.notna() & (s.str.strip() != "")]
    words = known.str.split().str.len().astype("int64").to_numpy() if len(known) else np.zeros(0, np.int64)
    chars = known.str.len().astype("int64").to_numpy() if len(known) else np.zeros(0, np.int64)
    uniq = {c: caption_language(c) for c in pd.unique(s.astype(object))}
    langs = s.astype(object).map(uniq)
    return {
        "with_caption": int(len(known)), "without_caption": int(len(s) - len(known)),
        "words": _describe(words), "chars": _describe(chars), "word_lengths": words.tolist(),
        "languages": [(str(k), int(v)) for k, v in langs.value_counts().items()],
        "language_method": LANGUAGE_METHOD,
    }


def _describe(a: np.ndarray) -> dict:
    if not len(a):
        return {"min": None, "median": None, "mean": None, "max": None}
    return {"min": int(a.min()), "median": float(np.median(a)), "mean": round(float(a.mean()), 2), "max": int(a.max())}


def size_stats(width: pd.Series, height: pd.Series) -> dict:
    w = pd.to_numeric(width, errors="coerce")
    h = pd.to_numeric(height, errors="coerce")
    ok = w.notna() & h.notna()
    wk, hk = w[ok].astype("int64").to_numpy(), h[ok].astype("int64").to_numpy()
    return {"known": int(ok.sum()), "unknown": int((~ok).sum()), "width": _describe(wk), "height": _describe(hk),
            "longest_side": np.maximum(wk, hk).tolist(), "pixels_median": float(np.median(wk * hk)) if len(wk) else None}


# ---- duplicates ---------------------------------------------------------------------------------
def exact_clusters(keys: Sequence[str], sha256: pd.Series) -> list[list[int]]:
    """Row positions sharing a sha256 (rows without a hash are never grouped), largest first."""
    s = pd.Series(sha256).astype("string").str.strip().str.lower()
    s = s.mask(s == "")
    known = s.notna().to_numpy()
    labels = pd.factorize(s[known])[0]
    return _groups(labels, np.flatnonzero(known))


def _groups(labels: np.ndarray, pos: np.ndarray) -> list[list[int]]:
    """Positions sharing a label, groups of 2+ only, largest first (vectorised: no per-group pandas objects)."""
    if not len(pos):
        return []
    order = np.lexsort((pos, labels))
    lab, p = labels[order], pos[order]
    starts = np.flatnonzero(np.r_[True, lab[1:] != lab[:-1]])
    ends = np.r_[starts[1:], len(lab)]
    big = (ends - starts) > 1
    groups = [p[a:b].tolist() for a, b in zip(starts[big], ends[big])]
    return sorted(groups, key=lambda g: (-len(g), g[0]))


def parse_hashes(values: Iterable[object]) -> tuple[np.ndarray, np.ndarray]:
    """Hex strings or ints -> uint64, with a mask of which were valid (as the second return)."""
    vals = list(values)
    out = np.zeros(len(vals), np.uint64)
    ok = np.zeros(len(vals), bool)
    for i, v in enumerate(vals):
        if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
            continue
        try:
            out[i] = np.uint64(int(v, 16) if isinstance(v, str) else int(v))  # type: ignore[call-overload]
            ok[i] = True
        except (ValueError, OverflowError):
            continue
    return out, ok


class _UnionFind:
    def __init__(self, n: int):
        self.parent = np.arange(n)

    def find(self, a: int) -> int:
        p = self.parent
        root = a
        while p[root] != root:
            root = p[root]
        while p[a] != root:
            p[a], a = root, p[a]
        return int(root)

    def roots(self) -> np.ndarray:
        """Root of every element, vectorised (pointer jumping until stable)."""
        p = self.parent
        while True:
            q = p[p]
            if np.array_equal(q, p):
                self.parent = p
                return p
            p = q

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def mirror_flags(hashes: np.ndarray, members: Sequence[int]) -> list[bool]:
    """Per cluster member: does it match the flipped first member more closely than the first member itself?"""
    h = np.asarray(hashes, np.uint64)[list(members)]
    if not len(h):
        return []
    x = h ^ h[0]
    return (np.bitwise_count(x ^ MIRROR_MASK) < np.bitwise_count(x)).tolist()


def near_clusters(hashes: np.ndarray, valid: np.ndarray, max_distance: int,
                  mirror: bool = False) -> tuple[list[list[int]], int]:
    """Single-linkage clusters of rows whose 64-bit hashes are within `max_distance` bits (with mirror=True: the
    hash or its flipped form, so an image and a horizontally flipped copy of it are joined).

    Identical hashes are merged first (with mirror: each hash reduced to its canonical orientation
    min(h, h ^ MIRROR_MASK)), then the distinct ones are self-joined by exact multi-index hashing
    (audit.index.hamming.self_pairs, never all pairs) and linked by union-find.
    Returns (clusters largest first, candidate pairs verified).
    """
    rows = np.flatnonzero(valid)
    if len(rows) < 2:
        return [], 0
    h = hashes[rows].astype(np.uint64)
    if mirror:
        h = np.minimum(h, h ^ MIRROR_MASK)
    uniq, inverse = np.unique(h, return_inverse=True)
    pairs = self_pairs(uniq, max_distance, mirror=mirror)
    uf = _UnionFind(len(uniq))
    for i, j in zip(pairs.i.tolist(), pairs.j.tolist()):
        uf.union(i, j)
    return _groups(uf.roots()[inverse.ravel()], rows), pairs.compared


#: Clusters above this many members are left as pHash linked them (the dHash check is quadratic per cluster).
MAX_CONFIRM_MEMBERS = 3000


def confirm_clusters(clusters: list[list[int]], phash: np.ndarray, dhash: np.ndarray, has_dhash: np.ndarray,
                     max_distance: int, mirror: bool = False) -> tuple[list[list[int]], int]:
    """Split pHash clusters so that members are linked only when their dHash agrees too (both within
    `max_distance`). Why: pHash alone (8x8 DCT signs) joins drawings that share a layout, such as different
    cards of one deck (in the reference set, 69 of 226 pHash <= 8 pairs have dHash >= 9). A pair linked through
    the flipped pHash, or with a member lacking a dHash, keeps its pHash link (the flipped dHash cannot be
    derived reliably: ties on flat backgrounds). Returns (clusters largest first, clusters left unsplit)."""
    out, unsplit = [], 0
    for c in clusters:
        if len(c) > MAX_CONFIRM_MEMBERS:
            out.append(list(c))
            unsplit += 1
            continue
        idx = np.asarray(c)
        ph, dh, hd = phash[idx].astype(np.uint64), dhash[idx].astype(np.uint64), has_dhash[idx]
        direct = np.bitwise_count(ph[:, None] ^ ph[None, :])
        link = direct <= max_distance
        flipped = np.zeros_like(link)
        if mirror:
            flip = np.bitwise_count(ph[:, None] ^ (ph[None, :] ^ MIRROR_MASK))
            flipped = (flip <= max_distance) & (flip < direct)
            link |= flipped
        dh_ok = np.bitwise_count(dh[:, None] ^ dh[None, :]) <= max_distance
        unknown = ~(hd[:, None] & hd[None, :])
        link &= flipped | unknown | dh_ok
        uf = _UnionFind(len(c))
        for a, b in zip(*np.nonzero(np.triu(link, 1))):
            uf.union(int(a), int(b))
        out += [g for g in _groups(uf.roots(), idx) if len(g) > 1]
    out.sort(key=lambda g: (-len(g), g[0]))
    return out, unsplit

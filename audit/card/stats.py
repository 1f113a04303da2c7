"""Column statistics for a dataset card: counts with unknowns kept, caption language, duplicate clusters.

Everything is vectorised over the manifest; near-duplicate clustering is exact multi-index hashing, never all pairs.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Iterable, Sequence
from urllib.parse import urlsplit

import numpy as np
import pandas as pd

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
    votes = Counter()
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
            out[i] = np.uint64(int(v, 16) if isinstance(v, str) else int(v))
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


def _ball(bits: int, radius: int) -> np.ndarray:
    """Every mask over `bits` bits with at most `radius` bits set (the probes around one substring value)."""
    from itertools import combinations

    masks = [0]
    for r in range(1, radius + 1):
        masks += [sum(1 << b for b in c) for c in combinations(range(bits), r)]
    return np.array(masks, np.uint64)


def plan_substrings(n: int, max_distance: int) -> tuple[list[tuple[int, int]], int]:
    """Multi-index hashing plan: split 64 bits into m disjoint substrings, probe radius r = max_distance // m.

    Any pair within max_distance bits has some substring within r bits (pigeonhole over the m substrings), so
    the search is exact for every m. m is chosen by a cost model (probes per row + expected candidates per
    row for uniform hashes): small n favours m = max_distance + 1 (r = 0, exact buckets), large n fewer,
    longer substrings with r > 0 so buckets stay small (≈ log2 n bits), which is what keeps it sub-quadratic.
    """
    from math import comb

    best: tuple[float, int] | None = None
    for m in range(1, min(64, max_distance + 1) + 1):
        r = max_distance // m
        edges = np.linspace(0, 64, m + 1).astype(int)
        cost = 0.0
        for lo, hi in zip(edges[:-1], edges[1:]):
            bits = int(hi - lo)
            cost += sum(comb(bits, k) for k in range(r + 1)) * (1.0 + n / 2.0 ** bits)
        if best is None or cost < best[0]:
            best = (cost, m)
    m = best[1] if best else 1
    edges = np.linspace(0, 64, m + 1).astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])], max_distance // m


#: Substrings up to this many bits get a dense bucket table (2**bits int64 offsets); longer ones use searchsorted.
DENSE_BITS = 22


def _substring_pairs(uniq: np.ndarray, lo: int, hi: int, masks: np.ndarray,
                     max_distance: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Pairs (i < j) of distinct hashes whose substring [lo, hi) differs by a mask in `masks` and whose full
    64-bit distance is <= max_distance. Each probe is one vectorised bucket lookup for all rows at once; rows
    are visited in substring order so the lookups (sorted value XOR a fixed mask) stream through the table."""
    bits = hi - lo
    sub = (uniq >> np.uint64(lo)) & np.uint64((1 << bits) - 1)
    order = np.argsort(sub, kind="stable")
    sv = sub[order]
    dense = bits <= DENSE_BITS
    if dense:  # bucket v holds sorted positions start[v] .. start[v + 1]
        start = np.zeros((1 << bits) + 1, np.int64)
        np.cumsum(np.bincount(sv.astype(np.int64), minlength=1 << bits), out=start[1:])
    # A pair differing by mask f != 0 is found from both ends; query only from the end whose substring has
    # f's highest set bit clear (rows split once per bit), so each pair is looked up once.
    clear = [np.flatnonzero((sv >> np.uint64(k)) & np.uint64(1) == 0) for k in range(bits)]
    everyone = np.arange(len(sv))
    out_a, out_b, compared = [], [], 0
    for f in masks:
        src = clear[int(f).bit_length() - 1] if f else everyone
        q = sv[src] ^ f
        if dense:
            qi = q.astype(np.int64)
            left, right = start[qi], start[qi + 1]
        else:
            left, right = np.searchsorted(sv, q, "left"), np.searchsorted(sv, q, "right")
        hit = np.flatnonzero(right > left)
        if not len(hit):
            continue
        cnt = (right - left)[hit]
        total = int(cnt.sum())
        qpos = src[np.repeat(hit, cnt)]
        offs = np.repeat(left[hit] - (np.cumsum(cnt) - cnt), cnt) + np.arange(total)
        a, b = order[qpos], order[offs]
        if not f:
            keep = a < b
            a, b = a[keep], b[keep]
        compared += len(a)
        close = np.bitwise_count(uniq[a] ^ uniq[b]) <= max_distance
        out_a.append(a[close])
        out_b.append(b[close])
    if not out_a:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), compared
    return np.concatenate(out_a), np.concatenate(out_b), compared


#: pHash bits that invert when the image is flipped horizontally. imagehash.phash thresholds the 8x8
#: low-frequency corner of a 2-D DCT-II at its median; flipping the pixels left-right negates every coefficient of
#: odd horizontal frequency (DCT-II of a reversed sequence: C'(k) = (-1)^k C(k)), i.e. columns 1, 3, 5, 7 of the
#: row-major 8x8 bit matrix, MSB first = bits 62, 60, ... of the uint64. Only the median moves, so
#: phash(mirror(img)) ~= phash(img) ^ MIRROR_MASK up to a few bits (median 2 bits, 99 % within 8 on 324 real
#: images of tests/data and data/reference; see benchmarks/RESULTS.md "Dataset card").
MIRROR_MASK = np.uint64(0x5555_5555_5555_5555)


def mirror_hash(h: np.ndarray | int) -> np.ndarray:
    """The pHash a horizontally flipped copy would have (approximately, see MIRROR_MASK)."""
    return np.asarray(h, np.uint64) ^ MIRROR_MASK


def hash_distance(a: np.ndarray | int, b: np.ndarray | int, mirror: bool = False) -> np.ndarray:
    """Hamming distance of 64-bit hashes; with mirror=True the smaller of the direct and the flipped one."""
    x = np.asarray(a, np.uint64) ^ np.asarray(b, np.uint64)
    d = np.bitwise_count(x)
    return np.minimum(d, np.bitwise_count(x ^ MIRROR_MASK)) if mirror else d


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

    Exact multi-index hashing (see plan_substrings): identical hashes are merged first, then for each
    substring every row probes the buckets within radius r of its own substring value; candidates are
    verified with a full 64-bit popcount. Mirror: each hash is reduced to its canonical orientation
    min(h, h ^ MIRROR_MASK) and the table holds both orientations of every canonical value, so a pair
    within the threshold either way is one bucket hit (2x the table, never all pairs).
    Returns (clusters largest first, candidate pairs verified).
    """
    rows = np.flatnonzero(valid)
    if len(rows) < 2:
        return [], 0
    h = hashes[rows].astype(np.uint64)
    if mirror:
        h = np.minimum(h, h ^ MIRROR_MASK)
    uniq, inverse = np.unique(h, return_inverse=True)
    table = np.concatenate([uniq, uniq ^ MIRROR_MASK]) if mirror else uniq
    uf = _UnionFind(len(uniq))
    subs, radius = plan_substrings(len(table), max(0, int(max_distance)))
    compared = 0
    for lo, hi in subs:
        a, b, c = _substring_pairs(table, lo, hi, _ball(hi - lo, radius), max_distance)
        compared += c
        if mirror:
            a, b = a % len(uniq), b % len(uniq)
        for i, j in zip(a.tolist(), b.tolist()):
            uf.union(i, j)
    return _groups(uf.roots()[inverse.ravel()], rows), compared


def brute_near_pairs(hashes: np.ndarray, max_distance: int, block: int = 2048,
                     mirror: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """All pairs (i < j) within max_distance bits (directly, or flipped with mirror=True), by blocked all-pairs
    popcount: the reference for tests."""
    h = np.asarray(hashes, np.uint64)
    out_a, out_b = [], []
    for lo in range(0, len(h), block):
        d = hash_distance(h[lo:lo + block, None], h[None, :], mirror)
        i, j = np.nonzero(d <= max_distance)
        keep = lo + i < j
        out_a.append(lo + i[keep])
        out_b.append(j[keep])
    if not out_a:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(out_a), np.concatenate(out_b)

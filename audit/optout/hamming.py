"""All pairs of 64-bit perceptual hashes within a Hamming distance, by multi-index hashing (joins, no scan).

Split the 64 bits into m segments: if two codes differ in at most d bits, at least one segment
differs in at most floor(d/m) bits (pigeonhole). So enumerate, for the smaller side only, every
code's segment values with up to floor(d/m) bits flipped, join them on integer equality with the other
side's segment values (sort + searchsorted), and verify each candidate with an exact popcount.
Exact (no pair is missed, none is invented) and, for 1M × 10k codes at d = 8, ~5× faster than
faiss's brute-force `IndexBinaryFlat.range_search` (see benchmarks/RESULTS.md, Opt-out).
"""

from __future__ import annotations

from itertools import combinations
from math import comb

import numpy as np

#: Cap on enumerated (code, variant) rows held at once; the enumerated side is processed in chunks.
MAX_VARIANT_ROWS = 8_000_000
#: Segments up to this many bits are looked up in a dense table of run starts (2^24 int64 = 128 MB at most).
MAX_TABLE_BITS = 24


def _segments(m: int) -> list[tuple[int, int]]:
    """(shift, width) of m segments covering the 64 bits, widths differing by at most one."""
    widths = [64 // m + (1 if i < 64 % m else 0) for i in range(m)]
    out, shift = [], 64
    for w in widths:
        shift -= w
        out.append((shift, w))
    return out


def _variants(width: int, radius: int) -> int:
    return sum(comb(width, j) for j in range(radius + 1))


def choose_segments(n_small: int, n_large: int, max_distance: int) -> int:
    """Number of segments minimising enumerated rows + probes + expected candidates (uniform codes)."""
    best, best_cost = 1, float("inf")
    for m in range(1, min(max_distance + 1, 16) + 1):
        r = max_distance // m
        width = min(w for _, w in _segments(m))
        v = _variants(width + 1, r)
        cost = n_small * m * v + n_large * m + n_small * n_large * m * v / 2.0 ** width
        if cost < best_cost:
            best, best_cost = m, cost
    return best


def _flip_masks(width: int, radius: int) -> np.ndarray:
    masks = [0]
    for j in range(1, radius + 1):
        for bits in combinations(range(width), j):
            masks.append(sum(1 << b for b in bits))
    return np.array(masks, dtype=np.uint64)


def near_pairs(a: np.ndarray, b: np.ndarray, max_distance: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(index into a, index into b, distance) for every pair with Hamming(a[i], b[j]) <= max_distance."""
    a = np.ascontiguousarray(a, dtype=np.uint64)
    b = np.ascontiguousarray(b, dtype=np.uint64)
    empty = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64))
    if not len(a) or not len(b) or max_distance < 0:
        return empty
    swap = len(a) > len(b)  # enumerate flips on the smaller side
    small, large = (b, a) if swap else (a, b)
    m = choose_segments(len(small), len(large), max_distance)
    r = max_distance // m
    found_s, found_l = [], []
    for shift, width in _segments(m):
        seg_mask = np.uint64((1 << width) - 1)
        masks = _flip_masks(width, r)
        lv = (large >> np.uint64(shift)) & seg_mask
        order = np.argsort(lv, kind="stable")
        table = None
        if width <= MAX_TABLE_BITS:  # direct table of run starts: one gather per key instead of a binary search
            table = np.zeros((1 << width) + 1, dtype=np.int64)
            np.cumsum(np.bincount(lv.astype(np.int64), minlength=1 << width), out=table[1:])
        else:
            lv_sorted = lv[order]
        step = max(1, MAX_VARIANT_ROWS // len(masks))
        for s0 in range(0, len(small), step):
            sv = (small[s0:s0 + step] >> np.uint64(shift)) & seg_mask
            keys = (sv[:, None] ^ masks[None, :]).ravel()
            if table is not None:
                k = keys.astype(np.int64)
                lo, hi = table[k], table[k + 1]
            else:
                lo = np.searchsorted(lv_sorted, keys, side="left")
                hi = np.searchsorted(lv_sorted, keys, side="right")
            cnt = hi - lo
            hit = np.flatnonzero(cnt)
            if not len(hit):
                continue
            cnt_h = cnt[hit]
            s_idx = np.repeat(hit // len(masks) + s0, cnt_h)
            first = np.cumsum(cnt_h) - cnt_h  # where each key's run of matches starts in the output
            pos = np.repeat(lo[hit] - first, cnt_h) + np.arange(int(cnt_h.sum()))
            l_idx = order[pos]
            found_s.append(s_idx)
            found_l.append(l_idx)
    if not found_s:
        return empty
    s_idx, l_idx = np.concatenate(found_s), np.concatenate(found_l)
    dist = np.bitwise_count(small[s_idx] ^ large[l_idx]).astype(np.int64)
    keep = dist <= max_distance
    s_idx, l_idx, dist = s_idx[keep], l_idx[keep], dist[keep]
    pair = np.unique(s_idx.astype(np.int64) * len(large) + l_idx, return_index=True)[1]  # a pair found via two segments
    s_idx, l_idx, dist = s_idx[pair], l_idx[pair], dist[pair]
    return (l_idx, s_idx, dist) if swap else (s_idx, l_idx, dist)

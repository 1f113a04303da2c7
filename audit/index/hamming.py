"""Exact search for pairs of 64-bit perceptual hashes within a Hamming distance (multi-index hashing, no scan).

One implementation for every caller: opt-out matching joins manifest codes against registry codes
(`near_pairs`), the dataset card clusters near duplicates (`self_pairs`, optionally mirror-aware).
numpy only, so light modules can import it.

Method: split the 64 bits into m disjoint segments. Two codes within d bits differ in at most r = d // m bits on
some segment (pigeonhole), so for each segment the query side probes every value within r bits of its own
segment value in a table of the other side (a dense table of run starts up to DENSE_BITS bits, else binary
search), and each candidate is verified by a 64-bit popcount. Exact: no pair is missed, none is invented.
m is picked by a cost model (probes + expected candidates for uniform codes, `plan`): many exact segments
for small inputs, 3 segments of 21-22 bits probed at radius 2 from ~10^5 codes at d = 8, so candidates grow
far slower than all pairs (benchmarks/RESULTS.md: Opt-out, Dataset card).
Self-join: a pair whose segments differ by a mask f != 0 would be found from both ends; it is probed only from
the end whose segment has f's highest set bit clear, and f = 0 keeps i < j, so each candidate is verified once
per segment.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from math import comb
from typing import Iterator

import numpy as np

#: pHash bits that invert when the image is flipped horizontally. imagehash.phash thresholds the 8x8
#: low-frequency corner of a 2-D DCT-II at its median; flipping the pixels left-right negates every coefficient of
#: odd horizontal frequency (DCT-II of a reversed sequence: C'(k) = (-1)^k C(k)), i.e. columns 1, 3, 5, 7 of the
#: row-major 8x8 bit matrix, MSB first = bits 62, 60, ... of the uint64. Only the median moves, so
#: phash(mirror(img)) ~= phash(img) ^ MIRROR_MASK up to a few bits (median 2 bits, 99 % within 8 on 324 real
#: images of tests/data and data/reference; see benchmarks/RESULTS.md "Dataset card").
MIRROR_MASK = np.uint64(0x5555_5555_5555_5555)
#: Segments up to this many bits get a dense table of run starts (2**bits int64, 32 MB at 22 bits).
DENSE_BITS = 22
#: Cap on (query row, probe mask) keys held at once; the query side is processed in chunks.
MAX_PROBE_ROWS = 2_000_000


def mirror_hash(h: np.ndarray | int) -> np.ndarray:
    """The pHash a horizontally flipped copy would have (approximately, see MIRROR_MASK)."""
    return np.asarray(h, np.uint64) ^ MIRROR_MASK


def hash_distance(a: np.ndarray | int, b: np.ndarray | int, mirror: bool = False) -> np.ndarray:
    """Hamming distance of 64-bit hashes; with mirror=True the smaller of the direct and the flipped one."""
    x = np.asarray(a, np.uint64) ^ np.asarray(b, np.uint64)
    d = np.bitwise_count(x)
    return np.minimum(d, np.bitwise_count(x ^ MIRROR_MASK)) if mirror else d


@dataclass(frozen=True)
class Plan:
    """Segments ([lo, hi) bit ranges, LSB = bit 0) and the probe radius; exact when len(segments) * (radius + 1)
    > max_distance."""

    segments: tuple[tuple[int, int], ...]
    radius: int


def _edges(m: int) -> list[tuple[int, int]]:
    e = np.linspace(0, 64, m + 1).astype(int)
    return [(int(a), int(b)) for a, b in zip(e[:-1], e[1:])]


def plan(n_query: int, n_table: int, max_distance: int, self_join: bool = False) -> Plan:
    """The m minimising probes + expected candidates for uniform codes: sum over segments of
    |ball(bits, r)| * n_query * (1 + n_table / 2**bits), plus, for a two-set join, n_table per segment (the
    table side is sorted once per segment, which dominates when a few registry codes meet a 1M manifest; the
    self-join's model leaves it out, as the card's always did, so its plans are unchanged).
    Small inputs get d + 1 exact segments (r = 0), large ones fewer, longer segments with r > 0 so buckets
    stay small (~log2 n_table bits)."""
    d = max(0, int(max_distance))
    best: tuple[float, int] | None = None
    for m in range(1, min(64, d + 1) + 1):
        r = d // m
        cost = 0.0
        for lo, hi in _edges(m):
            bits = hi - lo
            cost += sum(comb(bits, k) for k in range(r + 1)) * max(n_query, 1) * (1.0 + n_table / 2.0 ** bits)
            cost += 0.0 if self_join else n_table
        if best is None or cost < best[0]:
            best = (cost, m)
    m = best[1] if best else 1
    return Plan(tuple(_edges(m)), d // m)


def plan_self(n: int, max_distance: int, mirror: bool = False) -> Plan:
    """The plan `self_pairs` uses for n distinct codes (the mirror-aware table holds both orientations: 2n)."""
    size = n * (2 if mirror else 1)
    return plan(size, size, max_distance, self_join=True)


@dataclass(frozen=True, eq=False)
class NearPairs:
    """Pairs (i[k], j[k]) within the distance, sorted by (i, j), each once, with their distance (with mirror: the
    smaller of direct and flipped); `compared` = candidate pairs verified by popcount. Unpacks as (i, j, distance)."""

    i: np.ndarray
    j: np.ndarray
    distance: np.ndarray
    compared: int
    plan: Plan

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter((self.i, self.j, self.distance))

    def __len__(self) -> int:
        return len(self.i)


def _ball(bits: int, radius: int) -> np.ndarray:
    """Every mask over `bits` bits with at most `radius` bits set (the probes around one segment value)."""
    masks = [0]
    for r in range(1, radius + 1):
        masks += [sum(1 << b for b in c) for c in combinations(range(bits), r)]
    return np.array(masks, np.uint64)


def _probe_groups(qv: np.ndarray, bits: int, radius: int, self_join: bool):
    """(masks, query positions probing them). Self-join: f = 0 alone, then the masks sharing a highest set bit k,
    probed only from rows whose segment has bit k clear."""
    masks = _ball(bits, radius)
    if not self_join:
        yield masks, np.arange(len(qv))
        return
    yield masks[:1], np.arange(len(qv))
    top = np.array([int(f).bit_length() - 1 for f in masks[1:]], np.int64)
    for k in np.unique(top).tolist():
        yield masks[1:][top == k], np.flatnonzero((qv >> np.uint64(k)) & np.uint64(1) == 0)


def _join(q: np.ndarray, t: np.ndarray, p: Plan, max_distance: int,
          self_join: bool) -> tuple[np.ndarray, np.ndarray, int]:
    """(index into q, index into t) of candidate pairs verified within max_distance, and the candidates compared.
    A pair may come back once per segment; with self_join (q is t) each unordered pair i != j is probed from one
    end only (either order), and a code is never paired with itself."""
    out_q, out_t, compared = [], [], 0
    for lo, hi in p.segments:
        bits = hi - lo
        seg = np.uint64((1 << bits) - 1)
        tv = (t >> np.uint64(lo)) & seg
        order = np.argsort(tv, kind="stable")
        tv = tv[order]
        start = None
        if bits <= DENSE_BITS:  # bucket v holds sorted positions start[v] .. start[v + 1]
            start = np.zeros((1 << bits) + 1, np.int64)
            np.cumsum(np.bincount(tv.astype(np.int64), minlength=1 << bits), out=start[1:])
        if self_join:
            qv, qrow = tv, order
        else:  # queries in segment order too, so the lookups (sorted value XOR a fixed mask) stream through the table
            qs = (q >> np.uint64(lo)) & seg
            qrow = np.argsort(qs, kind="stable")
            qv = qs[qrow]
        for masks, src in _probe_groups(qv, bits, p.radius, self_join):
            step = max(1, MAX_PROBE_ROWS // len(masks))
            for s0 in range(0, len(src), step):
                rows = src[s0:s0 + step]
                keys = (masks[:, None] ^ qv[rows][None, :]).ravel()  # mask-major: one sorted stream per mask
                if start is not None:
                    k = keys.astype(np.int64)
                    left, right = start[k], start[k + 1]
                else:
                    left, right = np.searchsorted(tv, keys, "left"), np.searchsorted(tv, keys, "right")
                hit = np.flatnonzero(right > left)
                if not len(hit):
                    continue
                cnt = (right - left)[hit]
                total = int(cnt.sum())
                a = qrow[rows[np.repeat(hit % len(rows), cnt)]]
                b = order[np.repeat(left[hit] - (np.cumsum(cnt) - cnt), cnt) + np.arange(total)]
                if self_join and not masks[0]:
                    keep = a < b
                    a, b = a[keep], b[keep]
                compared += len(a)
                close = np.bitwise_count(q[a] ^ t[b]) <= max_distance
                out_q.append(a[close])
                out_t.append(b[close])
    if not out_q:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), compared
    return np.concatenate(out_q).astype(np.int64), np.concatenate(out_t).astype(np.int64), compared


def _check(p: Plan, max_distance: int) -> None:
    if len(p.segments) * (p.radius + 1) <= max_distance:
        raise ValueError(f"plan of {len(p.segments)} segments at radius {p.radius} can miss pairs at distance "
                         f"{max_distance} (needs segments * (radius + 1) > distance)")


def _finish(i: np.ndarray, j: np.ndarray, n_j: int, a: np.ndarray, b: np.ndarray, mirror: bool, compared: int,
            p: Plan) -> NearPairs:
    """Distinct pairs sorted by (i, j), with their (mirror-aware) distance."""
    uniq = np.unique(i * max(n_j, 1) + j)
    i, j = uniq // max(n_j, 1), uniq % max(n_j, 1)
    return NearPairs(i, j, hash_distance(a[i], b[j], mirror).astype(np.int64), compared, p)


def _empty(p: Plan) -> NearPairs:
    z = np.zeros(0, np.int64)
    return NearPairs(z, z, z, 0, p)


def near_pairs(a: np.ndarray, b: np.ndarray, max_distance: int, *, mirror: bool = False,
               forced: Plan | None = None) -> NearPairs:
    """Every pair (i into a, j into b) with Hamming(a[i], b[j]) <= max_distance (with mirror=True: or
    Hamming(a[i], b[j] ^ MIRROR_MASK)). The smaller side probes, the larger one is tabled. `forced` imposes a plan
    (tests); it must satisfy the pigeonhole condition."""
    a = np.ascontiguousarray(a, dtype=np.uint64).ravel()
    b = np.ascontiguousarray(b, dtype=np.uint64).ravel()
    tb = np.concatenate([b, b ^ MIRROR_MASK]) if mirror else b
    swap = len(a) > len(tb)
    q, t = (tb, a) if swap else (a, tb)
    p = forced or plan(len(q), len(t), max_distance)
    if not len(a) or not len(b) or max_distance < 0:
        return _empty(p)
    _check(p, max_distance)
    qi, ti, compared = _join(q, t, p, max_distance, self_join=False)
    i, j = (ti, qi) if swap else (qi, ti)
    return _finish(i, j % len(b), len(b), a, b, mirror, compared, p)


def self_pairs(h: np.ndarray, max_distance: int, *, mirror: bool = False, forced: Plan | None = None) -> NearPairs:
    """Every pair i < j of rows of h within max_distance bits (with mirror=True: directly or with one of them
    flipped, h[j] ^ MIRROR_MASK). The mirror-aware search tables both orientations of every code (2n entries), so
    a pair within the distance either way is one bucket hit. Pass distinct codes: k identical ones are k² pairs."""
    h = np.ascontiguousarray(h, dtype=np.uint64).ravel()
    n = len(h)
    p = forced or plan_self(n, max_distance, mirror)
    if n < 2 or max_distance < 0:
        return _empty(p)
    _check(p, max_distance)
    t = np.concatenate([h, h ^ MIRROR_MASK]) if mirror else h
    a, b, compared = _join(t, t, p, max_distance, self_join=True)
    if mirror:
        a, b = a % n, b % n
    a, b = np.minimum(a, b), np.maximum(a, b)  # a pair is probed from either end
    keep = a != b  # with mirror: a code against its own flip (32 bits apart)
    a, b = a[keep], b[keep]
    return _finish(a, b, n, h, h, mirror, compared, p)

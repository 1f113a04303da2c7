"""audit.index.hamming, the one exact Hamming near-pair search (opt-out join, dataset-card clustering), against
brute-force all-pairs popcounts: two-set and self-join, direct and mirror-aware, on planted near copies, with
the planner's own plans and forced ones (dense-table and binary-search paths)."""

from __future__ import annotations

import numpy as np
import pytest

from audit.index import hamming as H

MIRROR = np.uint64(0x5555_5555_5555_5555)  # written out: the reference must not lean on the module under test


def _brute(a: np.ndarray, b: np.ndarray, d: int, mirror: bool = False) -> set[tuple[int, int, int]]:
    x = np.bitwise_count(a[:, None] ^ b[None, :])
    if mirror:
        x = np.minimum(x, np.bitwise_count(a[:, None] ^ b[None, :] ^ MIRROR))
    i, j = np.nonzero(x <= d)
    return set(zip(i.tolist(), j.tolist(), x[i, j].tolist()))


def _brute_self(h: np.ndarray, d: int, mirror: bool = False, block: int = 2048) -> set[tuple[int, int]]:
    out: set[tuple[int, int]] = set()
    for lo in range(0, len(h), block):
        x = np.bitwise_count(h[lo:lo + block, None] ^ h[None, :])
        if mirror:
            x = np.minimum(x, np.bitwise_count(h[lo:lo + block, None] ^ h[None, :] ^ MIRROR))
        i, j = np.nonzero(x <= d)
        keep = lo + i < j
        out |= set(zip((lo + i[keep]).tolist(), j[keep].tolist()))
    return out


def _forced(m: int, t: int) -> H.Plan:
    e = np.linspace(0, 64, m + 1).astype(int)
    return H.Plan(tuple((int(a), int(b)) for a, b in zip(e[:-1], e[1:])), t // m)


def test_near_pairs_equals_brute_force():
    rng = np.random.default_rng(7)
    for trial in range(60):
        base = rng.integers(0, 2**63, 30, dtype=np.int64).astype(np.uint64)

        def codes(n, base=base):  # clusters of near-identical codes, as real perceptual hashes are
            c = base[rng.integers(0, len(base), n)]
            for _ in range(int(rng.integers(0, 6))):
                flip = rng.random(n) < 0.6
                c = np.where(flip, c ^ (np.uint64(1) << rng.integers(0, 64, n).astype(np.uint64)), c)
            return c

        a, b = codes(int(rng.integers(1, 200))), codes(int(rng.integers(1, 200)))
        if trial % 3 == 0:
            b[: len(b) // 2] ^= MIRROR  # some flipped copies, found only with mirror=True
        d = int(rng.integers(0, 16))
        for mirror in (False, True):
            i, j, dist = H.near_pairs(a, b, d, mirror=mirror)
            got = set(zip(i.tolist(), j.tolist(), dist.tolist()))
            assert len(got) == len(i), "a pair reported twice"
            assert got == _brute(a, b, d, mirror), (trial, d, mirror)
            assert list(zip(i.tolist(), j.tolist())) == sorted(zip(i.tolist(), j.tolist()))  # sorted by (i, j)
    empty = H.near_pairs(np.zeros(0, np.uint64), np.ones(3, np.uint64), 8)
    assert all(len(x) == 0 for x in empty)
    assert len(H.plan(10_000, 1_000_000, 8).segments) == 3  # the pigeonhole split used at the opt-out bench's size


@pytest.mark.parametrize("m", [1, 2, 3, 5])
def test_near_pairs_forced_plans(m):
    """Every plan that satisfies the pigeonhole condition is exact, either side larger (64/32-bit segments use
    binary search, 21-bit and shorter ones the dense table)."""
    rng = np.random.default_rng(m)
    a = rng.integers(0, 2**63, 300, dtype=np.uint64)
    b = np.concatenate([a[:150] ^ (np.uint64(1) << rng.integers(0, 64, 150).astype(np.uint64)),
                        rng.integers(0, 2**63, 700, dtype=np.uint64)])
    for t in (m - 1, 2 * m - 1):
        for x, y in ((a, b), (b, a)):
            i, j, dist = H.near_pairs(x, y, t, forced=_forced(m, t))
            assert set(zip(i.tolist(), j.tolist(), dist.tolist())) == _brute(x, y, t)
    with pytest.raises(ValueError, match="can miss pairs"):
        H.near_pairs(a, b, m, forced=H.Plan(_forced(m, m).segments, 0))


@pytest.mark.parametrize("n,t,m,mirror", [(400, 8, None, False), (3000, 8, None, False), (3000, 5, None, False),
                                          (8000, 8, None, False), (3000, 8, 3, False), (3000, 5, 2, False),
                                          (3000, 8, None, True), (3000, 8, 3, True), (3000, 5, 2, True)])
def test_self_pairs_equal_brute_force(n, t, m, mirror):
    """Planted copies at exactly 1..t+1 bits (t+1 must NOT pair) + random hashes: the self-join equals brute force
    whichever plan the size picks (m forces one: 3 x 21-22 bits probed at radius 2 = dense tables, 2 x 32 bits =
    binary search). mirror: every other planted copy is of the flipped hash, brute force takes min(direct, flipped)."""
    rng = np.random.default_rng(n + t)
    h = rng.integers(0, 2**63, size=n, dtype=np.uint64) | (rng.integers(0, 2, n, dtype=np.uint64) << np.uint64(63))
    k = n // 10
    src = rng.integers(0, n - k, k)
    for row, s_ in zip(range(n - k, n), src):
        d = int(rng.integers(1, t + 2))
        bits = rng.choice(64, d, replace=False)
        base = h[s_] ^ MIRROR if mirror and row % 2 else h[s_]
        h[row] = base ^ np.uint64(sum(1 << int(b) for b in bits))
    h = np.unique(h)  # self_pairs is given distinct codes (the card merges identical ones first)
    p = H.self_pairs(h, t, mirror=mirror, forced=_forced(m, t) if m else None)
    got = set(zip(p.i.tolist(), p.j.tolist()))
    want = _brute_self(h, t, mirror)
    assert got == want and len(got) == len(p)
    assert len(want) > k // 3  # planted pairs really exist
    if mirror:  # the flipped plants are really only found through the mirror
        assert len(want - _brute_self(h, t)) > k // 6
    assert (p.distance == H.hash_distance(h[p.i], h[p.j], mirror)).all() and (p.distance <= t).all()
    assert len(p.plan.segments) * (p.plan.radius + 1) > t  # pigeonhole condition: exact recall
    assert p.compared < n * (n - 1) // 2 // 4


def test_card_clusters_are_single_linkage_of_the_pairs():
    """near_clusters (the card) = brute-force single linkage, repeats and a missing hash included."""
    from audit.card.stats import _UnionFind, near_clusters

    rng = np.random.default_rng(3)
    n, t = 2000, 8
    h = rng.integers(0, 2**63, size=n, dtype=np.uint64)
    h[-200:] = h[:200] ^ (np.uint64(1) << rng.integers(0, 64, 200).astype(np.uint64))
    h[-100:] ^= MIRROR
    h[500:505] = h[505]
    valid = np.ones(n, bool)
    valid[7] = False
    rows = np.flatnonzero(valid)
    for mirror in (False, True):
        uf = _UnionFind(len(rows))
        for i, j in _brute_self(h[rows], t, mirror):
            uf.union(i, j)
        groups: dict[int, list[int]] = {}
        for i in range(len(rows)):
            groups.setdefault(uf.find(i), []).append(int(rows[i]))
        want = {tuple(sorted(g)) for g in groups.values() if len(g) > 1}
        clusters, _ = near_clusters(h, valid, t, mirror=mirror)
        assert {tuple(sorted(c)) for c in clusters} == want
        assert len(want) >= (200 if mirror else 100)  # planted pairs (but row 7) + the repeats


def test_plan_goes_subquadratic_for_large_n():
    small, large = H.plan_self(500, 8), H.plan_self(100_000, 8)
    assert len(small.segments) == 9 and small.radius == 0
    assert len(large.segments) < 9 and large.radius >= 1 and min(hi - lo for lo, hi in large.segments) >= 16
    assert H.plan_self(100_000, 8, mirror=True) == H.plan_self(200_000, 8)


def test_scalar_helpers():
    x = np.uint64(0x0123_4567_89AB_CDEF)
    assert int(H.hash_distance(x, H.mirror_hash(x))) == 32 and int(H.hash_distance(x, H.mirror_hash(x), True)) == 0

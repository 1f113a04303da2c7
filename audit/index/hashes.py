"""A faiss binary index over an index's perceptual hashes (audit.perceptual: pHash + dHash, 64 bits as uint64)
for near-duplicate lookup.

Global hashes miss horizontal flips, so lookups also hash the mirrored query (NOTES: copy detection).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from PIL import Image

from audit.perceptual import encode_with_mirror

#: Columns of hashes.parquet, each a field of audit.perceptual.PerceptualHash.
HASH_KINDS = ("phash", "dhash")


def to_codes(values: Sequence[int] | np.ndarray) -> np.ndarray:
    """uint64 hashes -> (n, 8) uint8 big-endian codes, the layout faiss binary indices expect."""
    arr = np.asarray(values, dtype=np.uint64).astype(">u8")
    return np.ascontiguousarray(arr.view(np.uint8).reshape(-1, 8))


@dataclass(frozen=True)
class HashMatch:
    """One near-duplicate: row in hashes table, best Hamming distance, and whether the mirror matched best."""

    row: int
    distance: int
    mirrored: bool
    kind: str


class HashIndex:
    """Binary faiss indices over stored hashes; rows align with the hashes table (and the vectors)."""

    def __init__(self, hashes: dict[str, np.ndarray]):
        import faiss

        self.indices = {}
        for kind, values in hashes.items():
            index = faiss.IndexBinaryFlat(64)
            if len(values):
                index.add(to_codes(values))
            self.indices[kind] = index

    def lookup(self, img: Image.Image, max_distance: int, kind: str = "phash") -> list[HashMatch]:
        """Rows within `max_distance` bits of the image or of its mirror, closest first.

        kind='phash' or 'dhash' uses that hash; kind='both' keeps rows where both hashes are within range
        (fewer false positives) and reports the larger of the two distances.
        """
        kinds = HASH_KINDS if kind == "both" else (kind,)
        per_kind: list[dict[int, tuple[int, bool]]] = []
        direct, mirrored_hashes = encode_with_mirror(img)
        for kd in kinds:
            index = self.indices[kd]
            best: dict[int, tuple[int, bool]] = {}
            codes = to_codes([getattr(direct, kd), getattr(mirrored_hashes, kd)])
            lims, dist, rows = index.range_search(codes, max_distance + 1)  # strict '<' radius
            for qi, mirrored in ((0, False), (1, True)):
                for r, d in zip(rows[lims[qi]:lims[qi + 1]], dist[lims[qi]:lims[qi + 1]]):
                    cur = best.get(int(r))
                    if cur is None or d < cur[0]:
                        best[int(r)] = (int(d), mirrored)
            per_kind.append(best)
        common = set(per_kind[0]).intersection(*per_kind[1:]) if per_kind else set()
        out = []
        for r in common:
            d, mirrored = max((pk[r] for pk in per_kind), key=lambda t: t[0])
            out.append(HashMatch(r, d, mirrored, kind))
        return sorted(out, key=lambda m: (m.distance, m.row))

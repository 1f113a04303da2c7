"""Reciprocal-rank fusion of the CLIP and caption-word result lists, and the evidence label of each result.

RRF (Cormack, Clarke & Büttcher, SIGIR 2009): score(d) = sum over lists of 1 / (RRF_K + rank of d in the list),
rank starting at 1; a list that does not hold d adds nothing. It needs no score calibration between cosine
and BM25, which live on unrelated scales. RRF_K = 60 is the paper's constant (and the default of most search
engines that offer RRF); a larger k flattens the difference between ranks 1 and 10.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

RRF_K = 60
#: How deep each list is read before fusing: deeper than k so an item ranked 30th by both lists can beat
#: one ranked 5th by one list only.
FUSION_DEPTH = 100

CLIP = "CLIP"
WORDS = "caption words"
BOTH = "both"
MODES = ("hybrid", "clip", "keyword")


@dataclass(frozen=True)
class Fused:
    id: int
    score: float
    evidence: str  # CLIP | caption words | both


def rrf(clip_ids: Sequence[int], word_ids: Sequence[int], k: int, rrf_k: int = RRF_K) -> list[Fused]:
    """The top `k` of both lists by reciprocal-rank fusion; ties keep the CLIP list's order, then the words'."""
    score: dict[int, float] = {}
    seen: dict[int, set[str]] = {}
    for label, ids in ((CLIP, clip_ids), (WORDS, word_ids)):
        for rank, i in enumerate(ids, 1):
            i = int(i)
            score[i] = score.get(i, 0.0) + 1.0 / (rrf_k + rank)
            seen.setdefault(i, set()).add(label)
    order = sorted(score, key=lambda i: -score[i])  # stable: first appearance breaks ties
    return [Fused(i, score[i], BOTH if len(seen[i]) == 2 else next(iter(seen[i]))) for i in order[:k]]

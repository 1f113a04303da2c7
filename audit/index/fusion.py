"""Reciprocal-rank fusion of the CLIP and caption-word result lists, and the evidence label of each result.

RRF (Cormack, Clarke & Büttcher, SIGIR 2009): score(d) = sum over lists of w_list / (RRF_K + rank of d in the
list), rank starting at 1; a list that does not hold d adds nothing. It needs no score calibration between
cosine and BM25, which live on unrelated scales. RRF_K = 60 is the paper's constant (and the default of most
search engines that offer RRF); a larger k flattens the difference between ranks 1 and 10.

Weights: caption words 1.0, CLIP CLIP_WEIGHT = 0.5. On the judged query set the shipped tiny CLIP reaches
precision@10 0.07 against 0.55 for caption words; at equal weights its top results push caption matches out
of the top 10 (hybrid 0.44). At 0.5 a CLIP-only first result ranks just below the 60th caption-word match,
while CLIP still orders the caption matches it agrees with and fills the list when words find nothing
(0.25-0.75 all measure the same: benchmarks/search_quality.py). Raise it for a stronger CLIP model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

RRF_K = 60
CLIP_WEIGHT = 0.5
WORDS_WEIGHT = 1.0
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


def rrf(clip_ids: Sequence[int], word_ids: Sequence[int], k: int, rrf_k: int = RRF_K,
        clip_weight: float = CLIP_WEIGHT, words_weight: float = WORDS_WEIGHT) -> list[Fused]:
    """The top `k` of both lists by weighted reciprocal-rank fusion; ties keep first appearance (CLIP list first)."""
    score: dict[int, float] = {}
    seen: dict[int, set[str]] = {}
    for label, weight, ids in ((CLIP, clip_weight, clip_ids), (WORDS, words_weight, word_ids)):
        for rank, i in enumerate(ids, 1):
            i = int(i)
            score[i] = score.get(i, 0.0) + weight / (rrf_k + rank)
            seen.setdefault(i, set()).add(label)
    order = sorted(score, key=lambda i: -score[i])  # stable: first appearance breaks ties
    return [Fused(i, score[i], BOTH if len(seen[i]) == 2 else next(iter(seen[i]))) for i in order[:k]]

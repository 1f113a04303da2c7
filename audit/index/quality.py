"""Search quality against judged queries (precision@k, nDCG@k) and the measured figures shown beside results.

benchmarks/search_quality.py measures the shipped model on the judged query set
(benchmarks/queries/reference_queries.json) and writes QUALITY_NAME beside the model's weights; the app and
`audit search` read it back with `measured_quality`, only when the index was built with that same model.
"""

from __future__ import annotations

import json
import math
from typing import Any, Mapping, Sequence

from audit import config

QUALITY_NAME = "search_quality.json"


def precision_at(ranked: Sequence[str], relevant: Mapping[str, int], k: int = 10) -> float:
    """Share of the first k results judged relevant (any grade > 0); missing results count as misses."""
    return sum(1 for key in ranked[:k] if relevant.get(key, 0) > 0) / k


def ndcg_at(ranked: Sequence[str], relevant: Mapping[str, int], k: int = 10) -> float:
    """Normalised discounted cumulative gain with gain 2^grade - 1 (Järvelin & Kekäläinen 2002)."""
    dcg = sum((2 ** relevant.get(key, 0) - 1) / math.log2(r + 2) for r, key in enumerate(ranked[:k]))
    ideal = sorted(relevant.values(), reverse=True)[:k]
    idcg = sum((2 ** g - 1) / math.log2(r + 2) for r, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def best_precision_at(relevant: Mapping[str, int], k: int = 10) -> float:
    """The highest precision@k any ranking can reach with these judgements."""
    return min(k, sum(1 for g in relevant.values() if g > 0)) / k


def measured_quality(index: Any) -> dict[str, Any] | None:
    """The judged-query figures of the index's model, or None when that model was never measured."""
    path = config.TINY_CLIP_DIR / QUALITY_NAME
    try:
        q = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if q.get("model_fingerprint") != index.meta.get("model_fingerprint"):
        return None
    return q


def quality_summary(index: Any) -> str | None:
    """One line for the app beside text-search results: how well the index's model finds plain nouns."""
    q = measured_quality(index)
    if q is None:
        return None
    a = q["all"]
    return (f"Measured on {a['queries']} judged one- and two-word queries over the reference set (precision@10): "
            f"CLIP alone {a['clip']['p@10']:.2f}, caption words {a['keyword']['p@10']:.2f}, hybrid {a['hybrid']['p@10']:.2f} "
            f"(best possible {a['best']['p@10']:.2f}). CLIP scores are similarities, not confidence: this model is weak "
            f"on free text, so trust results marked 'caption words' or 'both' first.")

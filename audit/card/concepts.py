"""Concept coverage: CLIP zero-shot over an index's stored image vectors (no image is re-embedded)."""

from __future__ import annotations

from typing import Any

import numpy as np

from audit.card.prompts import AGGREGATE_ONLY

#: Softmax temperature used for the per-image group assignment (CLIP's learned logit scale is ~100).
TEMPERATURE = 0.01
EXAMPLES_PER_PROMPT = 8


def concept_coverage(vectors: np.ndarray, keys: list[str], paths: list[str], embedder: Any,
                     prompts: dict[str, list[str]], chunk: int = 8192) -> list[dict]:
    """Per group: each prompt's image count and share (argmax within the group), with example keys
    (highest-scoring assigned images, as {key, path}) except for aggregate-only groups."""
    flat = [(g, p) for g, ps in prompts.items() for p in ps]
    if not flat or not len(vectors):
        return []
    text = np.asarray(embedder.embed_texts([p for _, p in flat]), dtype=np.float32)
    n = len(vectors)
    groups = []
    offsets, start = {}, 0
    for g, ps in prompts.items():
        offsets[g] = (start, start + len(ps))
        start += len(ps)
    best = {g: np.zeros(n, np.int64) for g in prompts}
    best_score = {g: np.zeros(n, np.float32) for g in prompts}
    conf = {g: np.zeros(n, np.float32) for g in prompts}
    for lo in range(0, n, chunk):
        v = np.asarray(vectors[lo:lo + chunk], dtype=np.float32)
        sims = v @ text.T
        for g, (a, b) in offsets.items():
            s = sims[:, a:b]
            arg = s.argmax(axis=1)
            best[g][lo:lo + len(v)] = arg
            best_score[g][lo:lo + len(v)] = s[np.arange(len(v)), arg]
            z = (s - s.max(axis=1, keepdims=True)) / TEMPERATURE
            p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
            conf[g][lo:lo + len(v)] = p.max(axis=1)
    for g, ps in prompts.items():
        rows = []
        for j, prompt in enumerate(ps):
            members = np.flatnonzero(best[g] == j)
            examples: list[dict] = []
            if g not in AGGREGATE_ONLY and len(members):
                top = members[np.argsort(-best_score[g][members], kind="stable")[:EXAMPLES_PER_PROMPT]]
                examples = [{"key": keys[i], "path": paths[i]} for i in top]
            rows.append({"prompt": prompt, "count": int(len(members)), "share": round(len(members) / n, 4),
                         "mean_confidence": round(float(conf[g][members].mean()), 3) if len(members) else None,
                         "examples": examples})
        groups.append({"group": g, "aggregate_only": g in AGGREGATE_ONLY, "prompts": rows})
    return groups

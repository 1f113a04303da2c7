"""Retrieval recall of a CLIP embedder on a dataset's held-out split (text→image and image→text).

Items whose captions are identical count as interchangeable positives: synthetic sets repeat
captions on purpose, and ranking one of several identical-caption images first is not an error.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from audit.embed.pairs import load_captioned

KS = (1, 5, 10)


@dataclass(frozen=True)
class RetrievalResult:
    dataset: str
    split: str
    n: int
    model: str
    text_to_image: dict[int, float]
    image_to_text: dict[int, float]
    chance_at_1: float  # expected R@1 of a random ranking, for contrast

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["text_to_image"] = {f"R@{k}": round(v, 4) for k, v in self.text_to_image.items()}
        d["image_to_text"] = {f"R@{k}": round(v, 4) for k, v in self.image_to_text.items()}
        return d

    def line(self) -> str:
        t = " ".join(f"R@{k}={v:.3f}" for k, v in self.text_to_image.items())
        i = " ".join(f"R@{k}={v:.3f}" for k, v in self.image_to_text.items())
        return f"{self.dataset} [{self.split}, n={self.n}]  text→image {t}  |  image→text {i}  (chance R@1≈{self.chance_at_1:.3f})"


def _groups(captions: Sequence[str]) -> np.ndarray:
    _, inverse = np.unique(np.asarray(captions, dtype=object).astype(str), return_inverse=True)
    return inverse.astype(np.int64)


def recall_at_k(
    queries: np.ndarray, targets: np.ndarray, q_groups: np.ndarray, t_groups: np.ndarray, ks: Sequence[int] = KS
) -> dict[int, float]:
    """Fraction of queries whose top-k targets contain one of the same group, for each k."""
    kmax = min(max(ks), len(targets))
    hits = {k: 0 for k in ks}
    for start in range(0, len(queries), 1024):
        sims = queries[start : start + 1024] @ targets.T
        top = (
            np.argpartition(-sims, kmax - 1, axis=1)[:, :kmax]
            if kmax < sims.shape[1]
            else np.tile(np.arange(sims.shape[1]), (len(sims), 1))
        )
        order = np.take_along_axis(sims, top, axis=1).argsort(axis=1)[:, ::-1]
        top = np.take_along_axis(top, order, axis=1)
        match = t_groups[top] == q_groups[start : start + 1024, None]
        for k in ks:
            hits[k] += int(match[:, :k].any(axis=1).sum())
    return {k: hits[k] / max(1, len(queries)) for k in ks}


def retrieval_scores(img: np.ndarray, txt: np.ndarray, captions: Sequence[str], ks: Sequence[int] = KS):
    """(text→image, image→text, chance R@1) for paired, L2-normalised embeddings."""
    groups = _groups(captions)
    counts = np.bincount(groups)
    chance = float(np.mean(counts[groups] / len(groups)))
    return recall_at_k(txt, img, groups, groups, ks), recall_at_k(img, txt, groups, groups, ks), chance


def evaluate_dataset(emb, dataset_dir: str | Path, split: str = "heldout", limit: int | None = None) -> RetrievalResult:
    """Embed a dataset split's images and captions with `emb` and measure recall@1/5/10 both ways."""
    data = load_captioned(dataset_dir, split=split, limit=limit)
    img = emb.embed_images(list(data.paths), batch_size=256, progress=True)
    txt = emb.embed_texts(list(data.captions))
    t2i, i2t, chance = retrieval_scores(img, txt, data.captions)
    return RetrievalResult(data.name, split, len(data), emb.name, t2i, i2t, chance)

"""Extraction without the training set (Carlini et al. 2023, "Extracting Training Data from Diffusion Models").

A generator that memorised an image returns (nearly) the same picture for its caption whatever the seed,
while a caption it learned to *draw* gives varied samples. So: sample many images per caption, link two
samples when their tiled L2 distance is small *relative to how far apart this generator's samples usually
are*, and flag captions whose samples collapse into a large clique. No training data or index is needed;
with an index, each flagged clique's representative is then checked like a memorisation scan.

Each sample is first standardised per colour channel (zero mean, unit spread), so a memorised picture that
comes back with a colour cast or a brightness shift still counts as the same picture. The relative distance
divides a pair's tiled L2 (worst 4x4 tile RMS) by the median tiled L2 between samples of *different* captions
drawn with *different* seeds — the generator's own spread — so one threshold works for generators of any style
or resolution. Calibrated on 4 captions x 8 samples of the shipped generator (10 DDIM steps): memorised photos
form full cliques at median relative distance 0.13-0.15, seed-driven blobs sit at ~1.0. Thresholds are module constants frozen before
the evaluation (docs/MEMORISATION.md "Extraction").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Two samples are "near-identical" when their tiled L2 is below this share of the generator's own spread.
RELATIVE_THRESHOLD = 0.35
#: A caption is flagged when its largest clique holds at least this share of its samples (and >= MIN_CLIQUE).
MIN_CLIQUE_SHARE = 0.25
MIN_CLIQUE = 3
TILES = 4


@dataclass(frozen=True)
class ExtractionSettings:
    """What decides a flag; stored in the output's meta.json so a result can be reproduced."""

    relative_threshold: float = RELATIVE_THRESHOLD
    min_clique_share: float = MIN_CLIQUE_SHARE
    min_clique: int = MIN_CLIQUE

    def min_size(self, samples: int) -> int:
        return max(int(self.min_clique), math.ceil(self.min_clique_share * samples))


@dataclass(frozen=True)
class CaptionExtraction:
    """One caption's verdict with the numbers behind it."""

    prompt: str
    samples: int
    clique: tuple[int, ...]  # sample indices (seed offsets) of the largest near-identical clique
    median_relative_distance: float  # inside the clique (nan when the clique is a single sample)
    flagged: bool
    reason: str

    @property
    def clique_size(self) -> int:
        return len(self.clique)


def standardise(images: np.ndarray, floor: float = 0.05) -> np.ndarray:
    """Per-image, per-channel z-score of (n, H, W, C) images in [0, 1]; `floor` keeps flat images finite."""
    x = images.astype(np.float32)
    mean = x.mean(axis=(1, 2), keepdims=True)
    std = x.std(axis=(1, 2), keepdims=True) + floor
    return (x - mean) / std


def tile_rms(images: np.ndarray, tiles: int = TILES) -> np.ndarray:
    """Pairwise tiled L2 (worst tile RMS) of n same-size float images (n, H, W, C) in [0, 1] -> (n, n)."""
    n, h, w = images.shape[:3]
    ys = [i * h // tiles for i in range(tiles + 1)]
    xs = [j * w // tiles for j in range(tiles + 1)]
    worst = np.zeros((n, n), dtype=np.float64)
    for i in range(tiles):
        for j in range(tiles):
            t = images[:, ys[i]:ys[i + 1], xs[j]:xs[j + 1]].reshape(n, -1).astype(np.float64)
            sq = (t * t).sum(1)
            d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * t @ t.T, 0.0) / t.shape[1]
            worst = np.maximum(worst, np.sqrt(d2))
    np.fill_diagonal(worst, 0.0)
    return worst


def spread(groups: Sequence[np.ndarray], rng: np.random.Generator, pairs: int = 2000) -> float:
    """Median tiled L2 between samples of different captions drawn with different seeds (the generator's spread)."""
    if len(groups) < 2:
        raise ValueError("the spread needs samples of at least two captions")
    dists = []
    for _ in range(pairs):
        a, b = rng.choice(len(groups), size=2, replace=False)
        i = int(rng.integers(len(groups[a])))
        j = int(rng.integers(len(groups[b])))
        if j == i:  # same seed: a prompt-blind generator would give the same picture for both captions
            j = (j + 1) % len(groups[b])
        dists.append(tile_rms(np.stack([groups[a][i], groups[b][j]]))[0, 1])
    return float(np.median(dists))


def largest_clique(adjacent: np.ndarray) -> tuple[int, ...]:
    """Maximum clique of a small undirected graph (Bron–Kerbosch with pivoting; n is samples per caption)."""
    n = len(adjacent)
    neighbours = [set(np.flatnonzero(adjacent[v]).tolist()) - {v} for v in range(n)]
    best: list[int] = [0] if n else []

    def expand(r: list[int], p: set[int], x: set[int]) -> None:
        nonlocal best
        if not p and not x:
            if len(r) > len(best):
                best = list(r)
            return
        if len(r) + len(p) <= len(best):
            return
        pivot = max(p | x, key=lambda u: len(neighbours[u] & p))
        for v in list(p - neighbours[pivot]):
            expand([*r, v], p & neighbours[v], x & neighbours[v])
            p = p - {v}
            x = x | {v}

    expand([], set(range(n)), set())
    return tuple(sorted(best))


def judge_caption(prompt: str, relative: np.ndarray, settings: ExtractionSettings) -> CaptionExtraction:
    """Flag one caption from its samples' pairwise relative distances."""
    n = len(relative)
    clique = largest_clique(relative < settings.relative_threshold)
    inside = relative[np.ix_(clique, clique)][np.triu_indices(len(clique), 1)] if len(clique) > 1 else np.array([])
    med = float(np.median(inside)) if inside.size else float("nan")
    need = settings.min_size(n)
    flagged = len(clique) >= need
    reason = (f"{len(clique)} of {n} samples are near-identical (relative tiled L2 < {settings.relative_threshold}; "
              f"flag at >= {need})")
    return CaptionExtraction(prompt, n, clique, med, flagged, reason)


def judge_all(prompts: Sequence[str], groups: Sequence[np.ndarray], settings: ExtractionSettings,
              seed: int = 0) -> tuple[list[CaptionExtraction], float]:
    """Verdicts for every caption (ranked by clique size, largest first) and the spread they were scaled by."""
    groups = [standardise(g) for g in groups]
    base = spread(groups, np.random.default_rng(seed))
    if not base > 0:
        raise ValueError("all samples are identical across captions: the generator's spread is zero")
    results = [judge_caption(p, tile_rms(g) / base, settings) for p, g in zip(prompts, groups)]
    results.sort(key=lambda r: (-r.clique_size, r.prompt))
    return results, base

"""Extraction without the training set: cliques of near-identical samples flag memorised captions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from audit.config import GENERATOR_DIR
from audit.errors import InputError
from audit.memorisation.extract import ExtractionSettings, judge_all, largest_clique, tile_rms


def _photo(rng: np.random.Generator, size: int = 32) -> np.ndarray:
    return rng.random((size, size, 3)).astype(np.float32)


def _blobs(rng: np.random.Generator, n: int, size: int = 32) -> np.ndarray:
    """Varied drawings: a random square at a random place per sample on a shared background."""
    out = np.full((n, size, size, 3), 0.5, np.float32)
    for k in range(n):
        y, x, s = rng.integers(0, size - 10, 2).tolist() + [int(rng.integers(6, 10))]
        out[k, y:y + s, x:x + s] = rng.random(3)
    return out


def test_tile_rms_matches_a_direct_computation() -> None:
    rng = np.random.default_rng(0)
    imgs = rng.random((3, 16, 16, 3))
    d = tile_rms(imgs)
    a, b = imgs[0], imgs[2]
    direct = max(np.sqrt(np.mean((a[i:i + 4, j:j + 4] - b[i:i + 4, j:j + 4]) ** 2)) for i in range(0, 16, 4) for j in range(0, 16, 4))
    assert d[0, 2] == pytest.approx(direct, rel=1e-5) and d[2, 0] == pytest.approx(direct, rel=1e-5) and d[1, 1] == 0


def test_largest_clique_is_maximum() -> None:
    adj = np.zeros((6, 6), bool)
    for a, b in [(0, 1), (1, 2), (0, 2), (2, 3), (3, 4), (4, 5), (3, 5), (2, 4), (2, 5)]:
        adj[a, b] = adj[b, a] = True
    assert largest_clique(adj) == (2, 3, 4, 5)


def test_memorised_caption_flagged_despite_colour_casts_drawn_captions_not() -> None:
    rng = np.random.default_rng(1)
    photo = _photo(rng)
    n = 12
    memorised = np.stack([np.clip(photo * rng.uniform(0.7, 1.1) + rng.uniform(-0.1, 0.1, 3) + rng.normal(0, 0.02, photo.shape), 0, 1)
                          for _ in range(n)]).astype(np.float32)
    groups = [memorised, _blobs(rng, n), _blobs(rng, n), _blobs(rng, n)]
    prompts = ["memorised", "drawn a", "drawn b", "drawn c"]
    results, spread = judge_all(prompts, groups, ExtractionSettings())
    assert spread > 0
    by = {r.prompt: r for r in results}
    assert by["memorised"].flagged and by["memorised"].clique_size == n and results[0].prompt == "memorised"
    assert not any(by[p].flagged for p in prompts[1:]), [(r.prompt, r.clique_size) for r in results]
    assert "near-identical" in by["memorised"].reason


@pytest.mark.skipif(not (GENERATOR_DIR / "meta.json").is_file(), reason="shipped generator missing")
def test_extract_on_the_shipped_generator(tmp_path) -> None:
    from audit.memorisation.extract_run import extract_captions

    prompts = ["a photo of the astronaut eileen collins", "a large blue square on the left of a grey background"]
    run = extract_captions(GENERATOR_DIR, prompts, tmp_path / "ext", samples_per_prompt=4, steps=8)
    table = pd.read_parquet(tmp_path / "ext" / "extraction.parquet")
    assert len(table) == 2 and len(list((tmp_path / "ext" / "samples").glob("*.png"))) == 8
    by = {c.prompt: c for c in run.captions}
    assert by[prompts[0]].flagged and not by[prompts[1]].flagged
    assert len(list((tmp_path / "ext" / "flagged").glob("*.png"))) == 1
    with pytest.raises(InputError):
        extract_captions(GENERATOR_DIR, prompts[:1], tmp_path / "ext2", samples_per_prompt=4)

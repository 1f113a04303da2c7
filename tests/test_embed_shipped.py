"""The shipped tiny CLIP checkpoint (data/tiny_clip/): size, meta, and retrieval better than chance on unseen images."""

from __future__ import annotations

import json

import pytest

from audit import config

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

pytestmark = pytest.mark.skipif(
    not (config.TINY_CLIP_DIR / "model.pt").is_file(), reason="shipped tiny CLIP not trained yet"
)


def test_checkpoint_is_small_and_described():
    assert (config.TINY_CLIP_DIR / "model.pt").stat().st_size <= 10 * 1024 * 1024
    meta = json.loads((config.TINY_CLIP_DIR / "meta.json").read_text())
    assert meta["kind"] == "embedder" and meta["model_config"] == "genaudit-tiny-clip"
    assert meta["training"]["steps"] > 0 and meta["training"]["datasets"]
    assert meta["heldout"] and meta["baseline_random_init"]


def test_default_model_retrieves_unseen_synthetic_images_better_than_chance(tmp_path):
    from audit.dataset.synthetic import build_synthetic
    from audit.embed import load_embedder
    from audit.embed.evaluate import evaluate_dataset

    data = tmp_path / "synth"
    build_synthetic(data, n=40, seed=987, size=64)  # a seed the model was not trained on
    emb = load_embedder()
    assert emb.name == "genaudit-tiny-clip" and next(emb.model.parameters()).dtype == torch.float32
    res = evaluate_dataset(emb, data, split="all")
    assert res.n == 40
    assert res.text_to_image[1] >= 3 * res.chance_at_1
    assert res.text_to_image[5] > 0.3

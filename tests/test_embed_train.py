"""Tiny-CLIP training and retrieval evaluation on a small real dataset directory built in tmp."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageDraw

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

from audit.embed.evaluate import retrieval_scores  # noqa: E402
from audit.embed.pairs import is_heldout, load_captioned  # noqa: E402
from audit.embed.train import ClipTrainSettings, swap_left_right, train_tiny  # noqa: E402
from audit.errors import ArtefactError  # noqa: E402
from audit.meta import sha256_file  # noqa: E402
from audit.records import write_manifest  # noqa: E402

COLOURS = {"red": (220, 30, 30), "green": (30, 170, 60), "blue": (40, 60, 220), "yellow": (230, 200, 20)}
SHAPES = ("circle", "square", "triangle")


def make_shape_set(root: Path, n: int = 60) -> Path:
    """A small captioned dataset: coloured shapes on the left or right, manifest + images + meta."""
    images = root / "images"
    images.mkdir(parents=True)
    rows = []
    for i in range(n):
        colour = list(COLOURS)[i % 4]
        shape = SHAPES[(i // 4) % 3]
        side = "left" if (i // 12) % 2 == 0 else "right"
        img = Image.new("RGB", (72, 64), (250, 250, 250))
        d = ImageDraw.Draw(img)
        x = 6 + (i % 5) if side == "left" else 40 + (i % 5)
        box = (x, 18 + (i % 7), x + 24, 42 + (i % 7))
        if shape == "circle":
            d.ellipse(box, fill=COLOURS[colour])
        elif shape == "square":
            d.rectangle(box, fill=COLOURS[colour])
        else:
            d.polygon([(box[0], box[3]), (box[2], box[3]), ((box[0] + box[2]) // 2, box[1])], fill=COLOURS[colour])
        path = images / f"k{i:03d}.png"
        img.save(path)
        rows.append({"key": f"k{i:03d}", "path": f"images/{path.name}", "url": "", "caption": f"a {colour} {shape} on the {side}",
                     "width": 72, "height": 64, "sha256": sha256_file(path), "phash": "", "author": "test",
                     "license": "CC0", "source": "test"})
    write_manifest(pd.DataFrame(rows), root)
    (root / "meta.json").write_text(json.dumps({"kind": "dataset"}))
    return root


def test_heldout_split_is_stable_and_about_ten_percent():
    keys = [f"item-{i}" for i in range(5000)]
    held = [is_heldout(k) for k in keys]
    assert held == [is_heldout(k) for k in keys]
    assert 0.08 < np.mean(held) < 0.12


def test_caption_mirroring():
    assert swap_left_right("a red circle on the left, Right of it a tree") == "a red circle on the right, Left of it a tree"
    assert swap_left_right("leftover bright lights") == "leftover bright lights"


def test_recall_counts_identical_captions_as_positives():
    e = np.eye(4, dtype=np.float32)
    img = e[[0, 1, 2, 3]]
    txt = e[[1, 0, 2, 3]]  # texts 0 and 1 swapped ...
    t2i, i2t, _ = retrieval_scores(img, txt, ["a", "b", "c", "d"])
    assert t2i[1] == 0.5 and i2t[1] == 0.5
    t2i, _, chance = retrieval_scores(img, txt, ["same", "same", "c", "d"])  # ... but identical captions
    assert t2i[1] == 1.0 and chance == pytest.approx((0.5 + 0.5 + 0.25 + 0.25) / 4)


def test_training_lowers_loss_resumes_and_writes_model(tmp_path):
    data = make_shape_set(tmp_path / "shapes")
    assert len(load_captioned(data, "train")) + len(load_captioned(data, "heldout")) == 60
    out = tmp_path / "model"
    base = dict(datasets=(data,), out=out, seed=0, batch=16, lr=2e-3, warmup=2, curve_every=5, checkpoint_seconds=0)
    first = train_tiny(ClipTrainSettings(steps=10, **base))
    assert first.steps == 10
    state = torch.load(out / "train_state.pt", weights_only=True)
    assert state["step"] == 10

    second = train_tiny(ClipTrainSettings(steps=20, **base))
    meta = json.loads((out / "meta.json").read_text())
    curve = meta["training"]["loss_curve"]
    assert [c[0] for c in curve] == [5, 10, 15, 20]  # continued from step 10, not restarted
    assert second.steps == 20 and meta["training"]["steps"] == 20
    assert curve[-1][1] < curve[0][1]
    assert meta["model_config"] == "genaudit-tiny-clip" and meta["training"]["datasets"][0]["n_train"] > 40
    assert set(meta["heldout"]) == {"shapes"} and "R@1" in meta["heldout"]["shapes"]["text_to_image"]
    assert (out / "model.pt").stat().st_size < 10_000_000

    again = train_tiny(ClipTrainSettings(steps=20, **base))  # finished: no-op
    assert again.stopped_reason == "already finished"

    from audit.embed import load_embedder

    emb = load_embedder(str(out))
    assert emb.weights_sha256 == sha256_file(out / "model.pt")
    with pytest.raises(ArtefactError, match="train_state.pt"):
        train_tiny(ClipTrainSettings(steps=20, **{**base, "seed": 1}))


def test_cli_eval_prints_recalls(tmp_path, capsys):
    from audit.cli import main

    data = make_shape_set(tmp_path / "shapes", n=40)
    code = main(["embed", "eval", "--model", "genaudit-tiny-clip@random:0", "--dataset", str(data), "--split", "all", "--json"])
    out = capsys.readouterr().out
    assert code == 0
    res = json.loads(out)[0]
    assert res["n"] == 40 and set(res["text_to_image"]) == {"R@1", "R@5", "R@10"}

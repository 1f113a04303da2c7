"""Training: loss falls, the loader honours duplication and exclusions, resume continues, NaN stops."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from test_generate_fixtures import CLIP, shapes_dataset  # noqa: F401  (fixture)

from audit.errors import InputError
from audit.generate.data import build_training_set, parse_duplicates
from audit.generate.train import GeneratorTrainSettings, TrainingError, denoising_loss, train

torch.set_num_threads(1)


def _settings(ds, out, **kw) -> GeneratorTrainSettings:
    base = dict(datasets=(str(ds),), out=str(out), steps=4, batch=4, preset="tiny", clip=CLIP, save_every=2)
    return GeneratorTrainSettings(**{**base, **kw})


def test_loss_goes_down_on_a_fixed_batch(shapes_dataset):
    from audit.generate.models import build_unet, unet_config
    from audit.generate.schedule import training_scheduler
    from audit.generate.text import TextConditioner

    data = build_training_set([shapes_dataset], 32)
    text = TextConditioner(CLIP)
    ctx = text.encode([data.captions[i] for i in data.caption_of[:4]])
    torch.manual_seed(0)
    unet = build_unet(unet_config("tiny", 32, text.text_width))
    sched = training_scheduler()
    x0 = torch.from_numpy(data.pixels[:4])
    g = torch.Generator().manual_seed(0)
    noise, t = torch.randn(x0.shape, generator=g), torch.randint(0, 1000, (4,), generator=g)
    opt = torch.optim.AdamW(unet.parameters(), lr=2e-3)
    losses = []
    for _ in range(12):
        loss = denoising_loss(unet, sched, x0, ctx, noise, t)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.7 * losses[0], losses


def test_duplication_factors_are_honoured_per_epoch(shapes_dataset):
    data = build_training_set([shapes_dataset], 32, parse_duplicates(["k0003=7", "k0005=3"]))
    assert data.epoch_length == 24 - 2 + 7 + 3
    # walk exactly one epoch through the stateless batch function (batch 4 does not divide 32: crosses epochs)
    seen = np.concatenate([data.batch_indices(0, s, 4) for s in range(8)])
    counts = {data.keys[i]: int(c) for i, c in zip(*np.unique(seen, return_counts=True))}
    assert counts["k0003"] == 7 and counts["k0005"] == 3
    assert all(c == 1 for k, c in counts.items() if k not in ("k0003", "k0005"))
    assert len(counts) == 24
    assert data.record()["duplication"] == {"k0003": 7, "k0005": 3}


def test_exclusions_really_exclude(shapes_dataset):
    data = build_training_set([shapes_dataset], 32, exclude_authors=["  bob "])  # case/space-insensitive
    bob = {f"k{i:04d}" for i in range(1, 24, 3)}
    assert set(data.record()["excluded_keys"]) == bob
    assert not bob & set(data.keys) and len(data.keys) == 16
    assert not bob & {data.keys[i] for s in range(10) for i in data.batch_indices(0, s, 4)}
    assert data.unmatched_authors() == []
    assert build_training_set([shapes_dataset], 32, exclude_authors=["Bob", "Zed"]).record()[
        "exclude_authors_without_items"] == ["zed"]
    with pytest.raises(InputError, match="both duplicated and excluded"):
        build_training_set([shapes_dataset], 32, {"k0001": 5}, ["Bob"])
    with pytest.raises(InputError, match="all items were excluded"):
        build_training_set([shapes_dataset], 32, exclude_authors=["ada", "bob", "cy"])


def test_exclude_keys_drop_exactly_those_items(shapes_dataset):
    data = build_training_set([shapes_dataset], 32, exclude_keys=["k0002", "k0000"])
    rec = data.record()
    assert rec["excluded_keys"] == rec["exclude_keys"] == ["k0000", "k0002"] and rec["items"] == 22
    assert not {"k0000", "k0002"} & set(data.keys)
    with pytest.raises(InputError, match="--exclude-key.*nope"):
        build_training_set([shapes_dataset], 32, exclude_keys=["nope"])
    with pytest.raises(InputError, match="both duplicated and excluded"):
        build_training_set([shapes_dataset], 32, {"k0000": 2}, exclude_keys=["k0000"])


def test_resume_continues_from_saved_step_and_matches_uninterrupted(shapes_dataset, tmp_path):
    first = train(_settings(shapes_dataset, tmp_path / "a", steps=2, duplicates={"k0000": 3}))
    assert first.step == 2 and first.resumed_from is None
    second = train(_settings(shapes_dataset, tmp_path / "a", steps=4, duplicates={"k0000": 3}))
    assert second.resumed_from == 2 and second.step == 4 and second.steps_run == 2
    straight = train(_settings(shapes_dataset, tmp_path / "b", steps=4, duplicates={"k0000": 3}))
    a = (tmp_path / "a" / "model.safetensors").read_bytes()
    assert a == (tmp_path / "b" / "model.safetensors").read_bytes()
    meta = json.loads((tmp_path / "a" / "meta.json").read_text())
    assert meta["steps"] == 4 and meta["kind"] == "generator" and straight.step == 4
    assert meta["training"]["duplication"] == {"k0000": 3}
    assert meta["text_encoder"]["name"] == CLIP and len(meta["text_encoder"]["weights_sha256"]) >= 12
    assert meta["resolution"] == 32 and meta["loss_curve"] and "--duplicate k0000=3" in meta["training"]["train_command"]
    # a different duplication table is a different run: refuse to resume it
    with pytest.raises(Exception, match="different duplication"):
        train(_settings(shapes_dataset, tmp_path / "a", steps=6, duplicates={"k0000": 4}))


def test_nan_loss_stops_and_keeps_last_checkpoint(shapes_dataset, tmp_path):
    out = tmp_path / "m"
    with pytest.raises(TrainingError, match=r"loss became nan at step \d+.*step \d+\) is kept"):
        train(_settings(shapes_dataset, out, steps=20, lr=1e30, save_every=1))
    meta = json.loads((out / "meta.json").read_text())
    assert 1 <= meta["steps"] < 20

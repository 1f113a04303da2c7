"""Contrastive training of the tiny in-project CLIP (no pretrained CLIP can be downloaded here).

Resumable: `train_state.pt` in the output dir holds weights, optimiser, step and loss curve and is
written atomically every minute; re-running the same command continues from it, and a finished
run is a no-op. Batches and augmentations are a pure function of (seed, step), so a resumed run
sees the same data it would have seen uninterrupted. A NaN loss stops training and the last good
checkpoint is what gets written out.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from audit.atomic import atomic_path
from audit.embed import TINY_CLIP, load_embedder
from audit.embed.loader import _build
from audit.embed.pairs import HELDOUT_PERCENT, CaptionedSet, load_captioned, preload_pixels
from audit.errors import ArtefactError, InputError, ModelError
from audit.meta import make_meta, sha256_file, write_meta
from audit.progress import bar
from audit.progress import enabled as progress_enabled

STATE_NAME = "train_state.pt"
WEIGHTS_NAME = "model.pt"
DEFAULT_STEPS = 1000
_LR_RE = re.compile(r"\b(left|right|Left|Right|LEFT|RIGHT)\b")
_SWAP = {"left": "right", "right": "left", "Left": "Right", "Right": "Left", "LEFT": "RIGHT", "RIGHT": "LEFT"}


@dataclass(frozen=True)
class ClipTrainSettings:
    """What `audit embed train-tiny` trains: the tiny in-project CLIP (contrastive, on captioned datasets)."""

    datasets: tuple[Path, ...]
    out: Path
    minutes: float | None = None
    steps: int | None = None
    seed: int = 0
    batch: int = 128
    lr: float = 1e-3
    threads: int = 0
    device: str = "cpu"
    command: str = ""
    arch: str = TINY_CLIP
    weight_decay: float = 0.1
    warmup: int = 100
    checkpoint_seconds: float = 60.0
    eval_limit: int | None = None
    curve_every: int = 25


@dataclass(frozen=True)
class ClipTrainResult:
    """A tiny-CLIP run: steps, time, why it stopped, and held-out retrieval against the random-init baseline."""

    out: Path
    steps: int
    elapsed_s: float
    stopped_reason: str
    final_loss: float | None
    heldout: dict[str, dict[str, Any]] = field(default_factory=dict)
    baseline: dict[str, dict[str, Any]] = field(default_factory=dict)

    def summary(self) -> str:
        lines = [f"trained {self.steps} steps in {self.elapsed_s / 60:.1f} min ({self.stopped_reason}); "
                 f"final loss {self.final_loss if self.final_loss is None else round(self.final_loss, 4)}; wrote {self.out}"]
        for name, r in self.heldout.items():
            base = self.baseline.get(name, {}).get("text_to_image", {})
            t2i = r["text_to_image"]
            lines.append(
                f"  {name} held-out n={r['n']}: text→image R@1={t2i['R@1']:.3f} R@5={t2i['R@5']:.3f}"
                f"  (random init R@1={base.get('R@1', float('nan')):.3f} R@5={base.get('R@5', float('nan')):.3f})"
            )
        return "\n".join(lines)


def swap_left_right(caption: str) -> str:
    """Mirror a caption's spatial words so it still describes a horizontally flipped image."""
    return _LR_RE.sub(lambda m: _SWAP[m.group(0)], caption)


def _run_key(cfg: ClipTrainSettings, sets: list[CaptionedSet]) -> str:
    """What a resumable state must agree on: architecture, seed, batch, lr and the training data."""
    parts = [cfg.arch, str(cfg.seed), str(cfg.batch), repr(cfg.lr), str(cfg.weight_decay)] + [s.manifest_hash for s in sets]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def augment(pixels_u8: np.ndarray, captions: list[str], rng: np.random.Generator, size: int, mean, std):
    """Random resized crop (scale 0.6–1) and horizontal flip with left/right swapped in the caption."""
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(pixels_u8).permute(0, 3, 1, 2).float().div_(255.0)
    n, _, src_h, src_w = x.shape
    out = torch.empty((n, 3, size, size), dtype=torch.float32)
    caps = list(captions)
    for i in range(n):
        scale = rng.uniform(0.6, 1.0)
        ratio = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
        w = min(src_w, max(8, round(src_w * math.sqrt(scale * ratio))))
        h = min(src_h, max(8, round(src_h * math.sqrt(scale / ratio))))
        x0, y0 = int(rng.integers(0, src_w - w + 1)), int(rng.integers(0, src_h - h + 1))
        crop = x[i : i + 1, :, y0 : y0 + h, x0 : x0 + w]
        img = F.interpolate(crop, size=(size, size), mode="bilinear", align_corners=False, antialias=True)[0]
        if rng.random() < 0.5:
            img = img.flip(-1)
            caps[i] = swap_left_right(caps[i])
        out[i] = img
    m = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    return (out - m) / s, caps


def contrastive_loss(model, pixels, tokens, captions: list[str]):
    """Symmetric InfoNCE; identical captions in a batch are shared positives, not negatives."""
    import torch
    import torch.nn.functional as F

    img = model.encode_image(pixels, normalize=True)
    txt = model.encode_text(tokens, normalize=True)
    scale = model.logit_scale.exp().clamp(max=100.0)
    logits = scale * img @ txt.T
    _, inv = np.unique(np.asarray(captions, dtype=object).astype(str), return_inverse=True)
    g = torch.from_numpy(inv.astype(np.int64)).to(logits.device)
    target = (g[:, None] == g[None, :]).float()
    target = target / target.sum(dim=1, keepdim=True)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def _param_groups(model, weight_decay: float):
    decay: list[Any] = []
    no_decay: list[Any] = []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim < 2 or "ln" in name or "bias" in name or "logit_scale" in name else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _lr_at(cfg: ClipTrainSettings, step: int, progress: float) -> float:
    warm = min(1.0, max((step + 1) / max(1, cfg.warmup), progress / 0.05))  # warm-up ends by 5 % of the budget
    return cfg.lr * warm * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def _save_state(path: Path, model, opt, step: int, elapsed: float, curve: list, run_key: str) -> None:
    import torch

    payload = {"model": model.state_dict(), "opt": opt.state_dict(), "step": step, "elapsed": elapsed,
               "curve": curve, "run_key": run_key}
    with atomic_path(path, ".pt") as tmp:
        torch.save(payload, tmp)


def _load_state(path: Path, run_key: str) -> dict | None:
    import torch

    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ArtefactError(f"{path} is unreadable ({exc})", "delete it to start training afresh") from None
    if state.get("run_key") != run_key:
        raise ArtefactError(
            f"{path} belongs to a run with other datasets, seed, batch or lr",
            "use a fresh --out directory, or delete train_state.pt to start over",
        )
    return state


def _write_weights(model, out: Path) -> Path:
    import torch

    state = {k: (v.detach().half() if v.is_floating_point() else v.detach()) for k, v in model.state_dict().items()}
    dest = out / WEIGHTS_NAME
    with atomic_path(dest, ".pt") as tmp:
        torch.save(state, tmp)
    return dest


def _evaluate(model_ref: str, sets: list[Path], limit: int | None, device: str) -> dict[str, dict[str, Any]]:
    from audit.embed.evaluate import evaluate_dataset

    emb = load_embedder(model_ref, device=device)
    results = {}
    for d in sets:
        r = evaluate_dataset(emb, d, split="heldout", limit=limit).as_dict()
        results[r["dataset"]] = {k: r[k] for k in ("n", "text_to_image", "image_to_text", "chance_at_1")}
    return results


def _log(msg: str) -> None:
    if not progress_enabled():
        print(msg, file=sys.stderr, flush=True)


@dataclass
class _ClipRun:
    """Where a tiny-CLIP run stands (mutable: every step updates it)."""

    target_steps: int | None
    budget_s: float | None
    step: int = 0
    elapsed: float = 0.0
    curve: list = field(default_factory=list)  # [step, mean loss since the last point, elapsed s]
    window: list = field(default_factory=list)
    stopped: str = "target reached"
    saved_step: int = -1  # last checkpointed step, -1 before the first

    def finished(self, step: int | None = None, elapsed: float | None = None) -> bool:
        step, elapsed = (self.step if step is None else step), (self.elapsed if elapsed is None else elapsed)
        return (self.target_steps is not None and step >= self.target_steps) or (self.budget_s is not None and elapsed >= self.budget_s)

    def progress(self) -> float:
        """Share of the budget used (the larger of steps and time): drives the learning-rate schedule."""
        return max(self.step / self.target_steps if self.target_steps else 0.0, self.elapsed / self.budget_s if self.budget_s else 0.0)

    def close_window(self) -> None:
        self.curve.append([self.step, round(float(np.mean(self.window)), 4), round(self.elapsed, 1)])
        self.window = []


def _check_settings(cfg: ClipTrainSettings) -> None:
    if not cfg.datasets:
        raise InputError("no --dataset given", "pass one or more dataset directories with manifest.parquet")
    if cfg.batch < 2:
        raise InputError(f"--batch {cfg.batch} is too small", "contrastive training needs at least 2 items per batch")


def _input_spec(model) -> tuple[int, Any, Any]:
    """(image side, normalisation mean, std) the model's preprocessing expects."""
    size = int(model.visual.image_size[0] if isinstance(model.visual.image_size, (tuple, list)) else model.visual.image_size)
    pre = model.visual.preprocess_cfg
    return size, pre.get("mean"), pre.get("std")


def _finished_result(out: Path, state: dict | None, run: _ClipRun, run_key: str) -> ClipTrainResult | None:
    """The result of an earlier run of the same command that already finished (re-running it is a no-op)."""
    if state is None or not run.finished(state["step"], state["elapsed"]):
        return None
    if not ((out / WEIGHTS_NAME).is_file() and (out / "meta.json").is_file()):
        return None
    meta = json.loads((out / "meta.json").read_text())
    tr = meta.get("training", {})
    if tr.get("run_key") == run_key and tr.get("steps") == state["step"]:
        _log(f"already trained to step {state['step']}; nothing to do")
        return ClipTrainResult(out, state["step"], state["elapsed"], "already finished", tr.get("final_loss"),
                               meta.get("heldout", {}), meta.get("baseline_random_init", {}))
    return None


def _decode_train_images(sets: list[CaptionedSet], src: int, cache_dir: Path) -> tuple[np.ndarray, list[str]]:
    """Every decodable training image once (cached per dataset) at `src` px, and its caption."""
    pix_parts: list[np.ndarray] = []
    captions: list[str] = []
    for s in sets:
        cache = cache_dir / f"{s.name}-{s.manifest_hash[:16]}-train-{src}.npz"
        pixels, ok = preload_pixels(s.paths, src, cache=cache, desc=f"decoding {s.name}")
        pix_parts.append(pixels[ok])
        captions.extend(c for c, good in zip(s.captions, ok) if good)
    if len(captions) < 2:
        raise InputError("fewer than 2 decodable captioned training images", "add images to the dataset")
    return np.concatenate(pix_parts), captions


def _train_loop(cfg: ClipTrainSettings, run: _ClipRun, model, opt, tokenizer, pixels: np.ndarray, captions: list[str],
                size: int, mean, std, state_path: Path, run_key: str) -> None:
    """Steps until the budget is used up or the loss stops being finite; checkpoints every cfg.checkpoint_seconds."""
    import torch

    n, batch = len(captions), min(cfg.batch, len(captions))
    total = run.target_steps if run.target_steps is not None else int(run.budget_s or 0)
    pbar = bar(total, "training tiny CLIP", unit="step" if run.target_steps is not None else "s")
    pbar.update(run.step if run.target_steps is not None else int(run.elapsed))
    last_ckpt = time.monotonic()
    try:
        while not run.finished():
            t0 = time.monotonic()
            rng = np.random.default_rng([cfg.seed, run.step])
            idx = np.sort(rng.choice(n, size=batch, replace=False))
            px, caps = augment(pixels[idx], [captions[i] for i in idx], rng, size, mean, std)
            tokens = tokenizer(caps).to(cfg.device)
            for g in opt.param_groups:
                g["lr"] = _lr_at(cfg, run.step, run.progress())
            loss = contrastive_loss(model, px.to(cfg.device), tokens, caps)
            if not torch.isfinite(loss):
                run.stopped = f"stopped: non-finite loss at step {run.step}"
                break
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            run.step += 1
            dt = time.monotonic() - t0
            run.elapsed += dt
            loss_value = float(loss.detach())
            run.window.append(loss_value)
            if run.step % cfg.curve_every == 0:
                _log(f"step {run.step} loss {np.mean(run.window):.4f} elapsed {run.elapsed / 60:.1f} min")
                run.close_window()
            pbar.update(1 if run.target_steps is not None else dt)
            pbar.set_postfix(loss=f"{loss_value:.3f}", refresh=False)
            if time.monotonic() - last_ckpt >= cfg.checkpoint_seconds:
                _save_state(state_path, model, opt, run.step, run.elapsed, run.curve, run_key)
                run.saved_step, last_ckpt = run.step, time.monotonic()
    finally:
        pbar.close()


def _keep_last_good(run: _ClipRun, model, opt, state_path: Path, run_key: str) -> None:
    """After the loop: a diverged run falls back to its last checkpoint; a finished one is checkpointed."""
    if run.stopped.startswith("stopped"):
        good = _load_state(state_path, run_key) if run.saved_step >= 0 else None
        if good is None:
            raise ModelError(f"training diverged ({run.stopped}) before any checkpoint was saved", "lower --lr")
        model.load_state_dict(good["model"])
        run.step, run.elapsed, run.curve = int(good["step"]), float(good["elapsed"]), list(good["curve"])
        run.stopped += f"; kept checkpoint of step {run.step}"
        return
    _save_state(state_path, model, opt, run.step, run.elapsed, run.curve, run_key)
    if run.window:
        run.close_window()


def _write_model(cfg: ClipTrainSettings, run: _ClipRun, model, out: Path, run_key: str, sets: list[CaptionedSet],
                 batch: int) -> ClipTrainResult:
    """model.pt and meta.json, with held-out retrieval of the trained model and of its random init."""
    model.eval()
    weights = _write_weights(model.cpu(), out)
    # meta.json must name the config before the checkpoint can be loaded for evaluation.
    base_meta = make_meta(
        "embedder",
        model_config=cfg.arch,
        weights=WEIGHTS_NAME,
        weights_sha256=sha256_file(weights),
        weights_dtype="float16",
        seed=cfg.seed,
    )
    write_meta(out, base_meta)
    heldout = _evaluate(str(out), list(cfg.datasets), cfg.eval_limit, cfg.device)
    baseline = _evaluate(f"{cfg.arch}@random:{cfg.seed}", list(cfg.datasets), cfg.eval_limit, cfg.device)
    final_loss = run.curve[-1][1] if run.curve else None
    training = {
        "command": cfg.command,
        "run_key": run_key,
        "seed": cfg.seed,
        "steps": run.step,
        "target_steps": run.target_steps,
        "minutes_budget": cfg.minutes,
        "elapsed_s": round(run.elapsed, 1),
        "batch": batch,
        "lr": cfg.lr,
        "weight_decay": cfg.weight_decay,
        "augmentation": "random resized crop scale 0.6-1, ratio 3/4-4/3; h-flip p=0.5 with left/right swapped in captions",
        "heldout_split": f"sha256(key) % 100 < {HELDOUT_PERCENT}",
        "stopped_reason": run.stopped,
        "final_loss": final_loss,
        "loss_curve": run.curve,
        "datasets": [
            {"dir": str(s.directory), "name": s.name, "manifest_hash": s.manifest_hash, "n_train": len(s)} for s in sets
        ],
    }
    write_meta(out, {**base_meta, "training": training, "heldout": heldout, "baseline_random_init": baseline})
    return ClipTrainResult(out, run.step, run.elapsed, run.stopped, final_loss, heldout, baseline)


def train_tiny(cfg: ClipTrainSettings) -> ClipTrainResult:
    """Train (or resume) the tiny CLIP on the datasets' train splits; write model.pt + meta.json to cfg.out."""
    import torch

    _check_settings(cfg)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    run = _ClipRun(target_steps=cfg.steps if cfg.steps else (None if cfg.minutes else DEFAULT_STEPS),
                   budget_s=cfg.minutes * 60.0 if cfg.minutes else None)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)

    sets = [load_captioned(d, split="train") for d in cfg.datasets]
    run_key = _run_key(cfg, sets)
    model, _, tokenizer = _build(cfg.arch, "cpu", cfg.seed)
    size, mean, std = _input_spec(model)
    state_path = out / STATE_NAME
    state = _load_state(state_path, run_key)
    if (done := _finished_result(out, state, run, run_key)) is not None:
        return done

    # Decoded slightly larger than the model input, for the random crops.
    pixels, captions = _decode_train_images(sets, size + size // 8, out / "cache")
    opt = torch.optim.AdamW(_param_groups(model, cfg.weight_decay), lr=cfg.lr, betas=(0.9, 0.98), eps=1e-6)
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        run.step, run.elapsed, run.curve = int(state["step"]), float(state["elapsed"]), list(state["curve"])
        run.saved_step = run.step
        _log(f"resuming from step {run.step} ({run.elapsed / 60:.1f} min trained)")
    model.to(cfg.device).train()
    _train_loop(cfg, run, model, opt, tokenizer, pixels, captions, size, mean, std, state_path, run_key)
    _keep_last_good(run, model, opt, state_path, run_key)
    return _write_model(cfg, run, model, out, run_key, sets, min(cfg.batch, len(captions)))

"""Training loop: DDPM noise prediction with caption dropout (for classifier-free guidance), EMA weights,
atomic checkpoints every N steps, resume from the last one, and a hard stop on a non-finite loss.

Every random draw of step s comes from a generator seeded by (seed, s) and batches are a pure
function of (seed, step) (see data.TrainingSet.batch_indices), so an interrupted and resumed run
follows the same trajectory as an uninterrupted one.
"""

from __future__ import annotations

import copy
import math
import shlex
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from audit.config import TINY_CLIP_DIR
from audit.errors import ArtefactError, AuditError, InputError
from audit.generate import store
from audit.generate.data import build_training_set
from audit.generate.models import build_unet, check_resolution, count_params, unet_config
from audit.generate.schedule import DEFAULT_SCHEDULE, training_scheduler
from audit.generate.text import TextConditioner
from audit.meta import make_meta
from audit.progress import bar

#: Text encoder used until the trained tiny CLIP is shipped in data/tiny_clip/.
FALLBACK_CLIP = "genaudit-tiny-clip@random:0"


class TrainingError(AuditError):
    """Training cannot continue (non-finite loss)."""


def default_clip() -> str:
    """The trained tiny CLIP when shipped, else its random-init twin (recorded in meta.json either way)."""
    return "genaudit-tiny-clip" if (TINY_CLIP_DIR / "model.pt").is_file() else FALLBACK_CLIP


@dataclass(frozen=True)
class GeneratorTrainSettings:
    """What `audit generate train` trains: the diffusion generator (UNet) on captioned datasets."""

    datasets: tuple[str, ...]
    out: str
    duplicates: dict[str, int] = field(default_factory=dict)
    exclude_authors: tuple[str, ...] = ()
    exclude_keys: tuple[str, ...] = ()
    steps: int | None = None
    minutes: float | None = None
    resolution: int = 32
    seed: int = 0
    batch: int = 32
    lr: float = 1e-3
    preset: str = "small"
    clip: str | None = None
    save_every: int = 200
    caption_dropout: float = 0.1
    ema_decay: float = 0.999
    device: str = "cpu"

    def command(self) -> str:
        """The `audit generate train` command line that reproduces this run."""
        parts = ["audit", "generate", "train"]
        for d in self.datasets:
            parts += ["--dataset", d]
        parts += ["--out", self.out]
        for k, n in self.duplicates.items():
            parts += ["--duplicate", f"{k}={n}"]
        for a in self.exclude_authors:
            parts += ["--exclude-author", a]
        for k in self.exclude_keys:
            parts += ["--exclude-key", k]
        if self.steps is not None:
            parts += ["--steps", str(self.steps)]
        if self.minutes is not None:
            parts += ["--minutes", str(self.minutes)]
        parts += ["--resolution", str(self.resolution), "--seed", str(self.seed), "--batch", str(self.batch),
                  "--lr", str(self.lr), "--preset", self.preset, "--save-every", str(self.save_every)]
        if self.clip:
            parts += ["--model", self.clip]
        return shlex.join(parts)


@dataclass(frozen=True)
class GeneratorTrainResult:
    """A finished (or budget-stopped) generator run: where it went, how far it got, how long it took."""

    model_dir: Path
    step: int
    steps_run: int
    excluded: int
    unmatched_authors: tuple[str, ...]
    final_loss: float | None
    seconds: float
    resumed_from: int | None
    params: int


#: Settings that must match to resume a run (others, like --steps/--minutes, may change).
_RESUME_KEYS = ("resolution", "seed", "batch", "lr", "preset", "caption_dropout", "ema_decay")


def _identity(settings: GeneratorTrainSettings, data_record: dict[str, Any], clip_sha256: str) -> dict[str, Any]:
    d = asdict(settings)
    return {**{k: d[k] for k in _RESUME_KEYS}, "manifest_hash": data_record["manifest_hash"],
            "duplication": data_record["duplication"], "excluded_keys": data_record["excluded_keys"],
            "clip_weights_sha256": clip_sha256}


def _prepare_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file", "give a directory for the model")
    if out.is_dir() and any(out.iterdir()) and not (out / store.STATE_NAME).is_file():
        if (out / "meta.json").is_file():
            raise ArtefactError(f"{out} holds a finished model without {store.STATE_NAME}, so it cannot be resumed",
                                "train into a new --out directory")
        raise ArtefactError(f"--out {out} is not empty and is not a generator training dir", "use a new directory")
    out.mkdir(parents=True, exist_ok=True)


def denoising_loss(unet, sched, x0, ctx, noise, t):
    """Epsilon-prediction MSE: noise x0 to step t, ask the UNet for the noise given the text states."""
    import torch.nn.functional as F

    return F.mse_loss(unet(sched.add_noise(x0, noise, t), t, ctx).sample, noise)


def _lr_at(step: int, base: float, warmup: int = 50) -> float:
    return base * min(1.0, (step + 1) / warmup)


@dataclass
class _Run:
    """The networks, optimiser and progress of one training run (mutable: every step updates them)."""

    cfg: dict[str, Any]
    unet: Any
    ema: Any
    opt: Any
    step: int = 0
    curve: list = field(default_factory=list)  # [step, mean loss of the last <= 10 steps]
    resumed_from: int | None = None
    window: list = field(default_factory=list)  # losses since the last curve point

    def close_window(self) -> None:
        """Add the losses since the last curve point to the curve (none when there are none)."""
        if self.window:
            self.curve.append([self.step, round(sum(self.window) / len(self.window), 6)])
            self.window = []


def _check_settings(settings: GeneratorTrainSettings) -> None:
    if settings.steps is None and settings.minutes is None:
        raise InputError("give --steps N or --minutes M", "e.g. --steps 2000")
    if settings.batch < 1 or settings.save_every < 1:
        raise InputError("--batch and --save-every must be at least 1")
    check_resolution(settings.resolution)


def _stored_identity(state: dict[str, Any]) -> dict[str, Any]:
    """The identity a saved state records (states saved before the rename call the CLIP hash clip_fingerprint)."""
    stored = dict(state.get("identity", {}))
    if "clip_fingerprint" in stored:
        stored["clip_weights_sha256"] = stored.pop("clip_fingerprint")
    return stored


def _check_resumable(out: Path, state: dict[str, Any] | None, identity: dict[str, Any]) -> None:
    if state is None:
        return
    stored = _stored_identity(state)
    if stored != identity:
        diff = sorted(k for k in identity if stored.get(k) != identity[k])
        raise ArtefactError(f"{out} was trained with different {', '.join(diff)}; cannot resume",
                            "use the same options, or a new --out directory")


def _start_run(settings: GeneratorTrainSettings, text_width: int, state: dict[str, Any] | None) -> _Run:
    """Fresh networks from the seed, or the saved ones of an interrupted run."""
    import torch

    cfg = unet_config(settings.preset, settings.resolution, text_width)
    torch.manual_seed(settings.seed)
    unet = build_unet(cfg).to(settings.device)
    ema = copy.deepcopy(unet).requires_grad_(False)
    opt = torch.optim.AdamW(unet.parameters(), lr=settings.lr, weight_decay=0.0)
    run = _Run(cfg, unet, ema, opt)
    if state is not None:
        unet.load_state_dict(state["unet"])
        ema.load_state_dict(state["ema"])
        opt.load_state_dict(state["optimizer"])
        run.step, run.curve, run.resumed_from = int(state["step"]), list(state["loss_curve"]), int(state["step"])
    return run


def _save(run: _Run, settings: GeneratorTrainSettings, out: Path, text, record: dict[str, Any], identity: dict[str, Any]) -> None:
    """Checkpoint (resumable state), EMA weights and meta.json at the current step."""
    store.save_train_state({"step": run.step, "unet": run.unet.state_dict(), "ema": run.ema.state_dict(),
                            "optimizer": run.opt.state_dict(), "loss_curve": run.curve, "identity": identity}, out)
    weights_sha256 = store.save_weights(run.ema.state_dict(), out)
    store.write_generator_meta(out, make_meta(
        "generator", unet=run.cfg, preset=settings.preset, params=count_params(run.unet), schedule=DEFAULT_SCHEDULE,
        resolution=settings.resolution, seed=settings.seed, batch=settings.batch, lr=settings.lr,
        caption_dropout=settings.caption_dropout, ema_decay=settings.ema_decay, steps=run.step,
        text_encoder={"name": text.name, "weights_sha256": text.weights_sha256, "context_length": text.context_length,
                      "text_width": text.text_width, "frozen": True,
                      "trained": "@random" not in text.name},
        training={**record, "datasets": [str(Path(d).resolve()) for d in settings.datasets],
                  "train_command": settings.command()},
        loss_curve=run.curve, weights_sha256=weights_sha256,
    ))


def _batch_loss(run: _Run, settings: GeneratorTrainSettings, data, sched, cap_states, empty_state):
    """The denoising loss of step `run.step`: batch, caption dropout, noise and timesteps all drawn from (seed, step)."""
    import torch

    g = torch.Generator().manual_seed(settings.seed * 1_000_003 + run.step)
    idx = data.batch_indices(settings.seed, run.step, settings.batch)
    x0 = torch.from_numpy(data.pixels[idx]).to(settings.device)
    ctx = cap_states[torch.from_numpy(data.caption_of[idx])].clone()
    drop = torch.rand(len(idx), generator=g) < settings.caption_dropout
    ctx[drop] = empty_state
    noise = torch.randn(x0.shape, generator=g)
    t = torch.randint(0, sched.config.num_train_timesteps, (len(idx),), generator=g)
    dev = settings.device
    return denoising_loss(run.unet, sched, x0, ctx.to(dev), noise.to(dev), t.to(dev))


def _update(run: _Run, settings: GeneratorTrainSettings, loss) -> None:
    """One optimiser step (warm-up learning rate, clipped gradients) and the EMA update."""
    import torch

    for group in run.opt.param_groups:
        group["lr"] = _lr_at(run.step, settings.lr)
    run.opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(run.unet.parameters(), 1.0)
    run.opt.step()
    decay = min(settings.ema_decay, (1 + run.step) / (10 + run.step))
    with torch.no_grad():
        for pe, pm in zip(run.ema.parameters(), run.unet.parameters()):
            pe.lerp_(pm, 1 - decay)


def train(settings: GeneratorTrainSettings) -> GeneratorTrainResult:
    """Train (or resume) a generator into settings.out; returns when steps/minutes are used up."""
    _check_settings(settings)
    out = Path(settings.out)
    _prepare_out(out)
    t_start = time.monotonic()

    data = build_training_set(settings.datasets, settings.resolution, settings.duplicates, settings.exclude_authors,
                              settings.exclude_keys)
    record = data.record()
    text = TextConditioner(settings.clip or default_clip(), device=settings.device)
    identity = _identity(settings, record, text.weights_sha256)
    state = store.load_train_state(out)
    _check_resumable(out, state, identity)

    cap_states = text.encode(data.captions)  # once per unique caption
    empty_state = text.encode([""])[0]
    run = _start_run(settings, text.text_width, state)
    sched = training_scheduler(DEFAULT_SCHEDULE)

    target = settings.steps if settings.steps is not None else None
    deadline = t_start + settings.minutes * 60 if settings.minutes is not None else math.inf
    pbar = bar(total=target or 0, desc="training generator", unit="step")
    pbar.update(run.step)
    last_loss, start_step, last_saved = None, run.step, (run.step if state is not None else None)
    run.unet.train()
    try:
        while (target is None or run.step < target) and time.monotonic() < deadline:
            loss = _batch_loss(run, settings, data, sched, cap_states, empty_state)
            value = float(loss.detach())
            if not math.isfinite(value):
                kept = f"the last good checkpoint (step {last_saved}) is kept in {out}" if last_saved is not None \
                    else "no checkpoint had been saved yet"
                raise TrainingError(f"loss became {value} at step {run.step}; training stopped, {kept}",
                                    "lower --lr (or check the images), then resume")
            _update(run, settings, loss)
            run.step += 1
            run.window.append(value)
            last_loss = value
            if len(run.window) == 10:
                run.close_window()
            pbar.update(1)
            pbar.set_postfix(loss=f"{value:.4f}")
            if run.step % settings.save_every == 0:
                run.close_window()
                _save(run, settings, out, text, record, identity)
                last_saved = run.step
    finally:
        pbar.close()
    if last_saved != run.step or not (out / store.WEIGHTS_NAME).is_file():
        run.close_window()
        _save(run, settings, out, text, record, identity)
    return GeneratorTrainResult(
        out,
        run.step,
        run.step - start_step,
        len(data.excluded),
        tuple(data.unmatched_authors()),
        last_loss,
        time.monotonic() - t_start,
        run.resumed_from,
        count_params(run.unet),
    )

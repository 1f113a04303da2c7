"""The generator model directory: what is in it, how it is written (atomically) and checked on load.

    MODEL_DIR/model.safetensors   EMA weights of the UNet (what sampling uses)
    MODEL_DIR/meta.json           kind="generator": architecture, schedule, text encoder, training record
    MODEL_DIR/train_state.pt      optional: raw weights + optimiser + step, to resume training
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from audit.atomic import atomic_path
from audit.errors import ArtefactError
from audit.meta import read_meta, sha256_file, write_meta

KIND = "generator"
#: Bumped whenever the files or meta fields of a generator dir change incompatibly.
GENERATOR_FORMAT = 1
WEIGHTS_NAME = "model.safetensors"
STATE_NAME = "train_state.pt"
REQUIRED_META = ("unet", "schedule", "text_encoder", "resolution")


def save_weights(state_dict: dict[str, Any], model_dir: Path) -> str:
    """Write the UNet weights atomically; returns their sha256 (the model hash recorded with samples)."""
    from safetensors.torch import save_file

    dest = Path(model_dir) / WEIGHTS_NAME
    with atomic_path(dest, ".safetensors") as tmp:
        save_file({k: v.detach().contiguous().cpu() for k, v in state_dict.items()}, str(tmp))
    return sha256_file(dest)


def save_train_state(state: dict[str, Any], model_dir: Path) -> None:
    import torch

    with atomic_path(Path(model_dir) / STATE_NAME, ".pt") as tmp:
        torch.save(state, tmp)


def load_train_state(model_dir: Path) -> dict[str, Any] | None:
    import torch

    path = Path(model_dir) / STATE_NAME
    if not path.is_file():
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # torch raises many types for truncated/corrupt pickles
        raise ArtefactError(f"{path} is unreadable ({type(exc).__name__})", "delete it to start training afresh") from None


def write_generator_meta(model_dir: Path, meta: dict[str, Any]) -> None:
    write_meta(model_dir, {**meta, "kind": KIND, "generator_format": GENERATOR_FORMAT})


def check_model_dir(model_dir: str | Path) -> dict[str, Any]:
    """meta.json of a usable generator dir, or a one-line ArtefactError saying what is wrong."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise ArtefactError(f"model dir {model_dir} does not exist", "train one with `audit generate train`")
    meta = read_meta(model_dir, kind=KIND)
    fmt = meta.get("generator_format")
    if fmt != GENERATOR_FORMAT:
        raise ArtefactError(
            f"{model_dir} is a generator from another genaudit version (format {fmt}, this one reads {GENERATOR_FORMAT})",
            "retrain it with this version's `audit generate train`",
        )
    missing = [f for f in REQUIRED_META if f not in meta]
    if missing:
        raise ArtefactError(f"{model_dir}/meta.json lacks {', '.join(missing)}", "retrain the model")
    if not (model_dir / WEIGHTS_NAME).is_file():
        raise ArtefactError(f"{model_dir} has no {WEIGHTS_NAME}", "the training run never saved; train again")
    return meta


def load_weights(model_dir: Path):
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(model_dir) / WEIGHTS_NAME
    try:
        return load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise ArtefactError(f"{path} is corrupt ({exc})", "retrain or restore the model dir") from None

"""Resolve a model name to an Embedder: shipped tiny CLIP, `NAME@random:SEED`, open_clip name[:tag], file or dir.

Nothing is ever downloaded: a pretrained tag loads only if its weights are already in the local
Hugging Face / open_clip cache, otherwise ModelError is raised at once (offline machines never hang).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
from pathlib import Path
from typing import Any

from audit import config
from audit.embed.embedder import Embedder
from audit.errors import ModelError
from audit.meta import sha256_file

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
WEIGHTS_NAME = "model.pt"
_RANDOM_RE = re.compile(r"^(?P<arch>[^@]+)@random(?::(?P<seed>-?\d+))?$")

_registered = False


def register_configs() -> None:
    """Make the in-project configs (audit/embed/configs/*.json) known to open_clip, once."""
    global _registered
    if _registered:
        return
    import open_clip

    open_clip.add_model_config(CONFIG_DIR)
    _registered = True


def known_architectures() -> list[str]:
    register_configs()
    import open_clip

    return list(open_clip.list_models())


def _check_arch(arch: str) -> None:
    if arch not in known_architectures():
        raise ModelError(
            f"unknown model architecture '{arch}'",
            "use genaudit-tiny-clip, an open_clip name such as ViT-B-32, a checkpoint file or a model dir",
        )


_BUILD_LOCK = threading.Lock()


def _build(arch: str, device: str, seed: int = 0):
    """Create the architecture with deterministic random init; returns (model, preprocess, tokenizer).

    Seeding uses torch's global RNG, so concurrent builds (app threads) are serialised by a lock.
    """
    import open_clip
    import torch

    register_configs()
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)  # open_clip warns "initialized randomly": intended here, weights follow
    try:
        with _BUILD_LOCK, torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model, _, preprocess = open_clip.create_model_and_transforms(arch, pretrained=None, device="cpu")
    finally:
        logging.disable(previous)
    tokenizer = open_clip.get_tokenizer(arch)
    model.eval()
    return model.to(device), preprocess, tokenizer


def _load_state(model: Any, path: Path) -> None:
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle errors, truncated zip, wrong format
        raise ModelError(f"{path}: not a readable checkpoint ({type(exc).__name__}: {exc})", "re-train or re-copy it") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ModelError(f"{path}: checkpoint holds no state dict", "save it with torch.save(model.state_dict())")
    state = {k.removeprefix("module."): v.float() if v.is_floating_point() else v for k, v in state.items()}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0][:200]
        raise ModelError(
            f"{path}: weights do not fit the model config ({first})",
            "its meta.json must name the config it was trained with (model_config)",
        ) from None


def _sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _from_checkpoint(path: Path, device: str, name: str | None = None):
    """A weights file, config name from meta.json beside it (default: the tiny CLIP config)."""
    meta_path = path.parent / "meta.json"
    arch = config.DEFAULT_MODEL
    if meta_path.is_file():
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ModelError(f"{meta_path} is not valid JSON ({exc})", "restore or re-train the model dir") from None
        arch = meta.get("model_config") or arch
    _check_arch(arch)
    model, preprocess, tokenizer = _build(arch, "cpu")
    _load_state(model, path)
    model.eval()
    return Embedder(
        name=name or str(path.resolve()),
        weights_sha256=sha256_file(path),
        model=model.to(device),
        preprocess=preprocess,
        tokenizer=tokenizer,
        device=device,
        config_name=arch,
        source=str(path),
    )


def _weights_in_dir(directory: Path) -> Path:
    for candidate in (WEIGHTS_NAME, "open_clip_pytorch_model.bin", "model.bin", "checkpoint.pt"):
        if (directory / candidate).is_file():
            return directory / candidate
    raise ModelError(f"{directory}: no {WEIGHTS_NAME} in the model directory", "train one with `audit embed train-tiny`")


def _cached_hub_file(arch: str, tag: str) -> str | None:
    """Path of already-downloaded weights for an open_clip pretrained tag, or None (never downloads)."""
    import open_clip
    from open_clip.pretrained import get_pretrained_cfg

    cfg = get_pretrained_cfg(arch, tag)
    if not cfg:
        raise ModelError(
            f"'{tag}' is not a pretrained tag of {arch}",
            f"known tags: {', '.join(open_clip.list_pretrained_tags_by_model(arch)) or 'none'}",
        )
    if cfg.get("file") and os.path.isfile(cfg["file"]):
        return cfg["file"]
    hub = cfg.get("hf_hub", "")
    if hub:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from huggingface_hub import try_to_load_from_cache

        repo, filename = os.path.split(hub)
        names = [filename] if filename else ["open_clip_model.safetensors", "open_clip_pytorch_model.bin"]
        if filename.endswith(".bin"):
            names.insert(0, filename[: -len(".bin")] + ".safetensors")
        for fname in names:
            try:
                hit = try_to_load_from_cache(repo_id=repo, filename=fname)
            except Exception:
                hit = None
            if isinstance(hit, str) and os.path.isfile(hit):
                return hit
    url = cfg.get("url", "")
    if url:
        local = Path(os.path.expanduser("~/.cache/clip")) / os.path.basename(url)
        if local.is_file():
            return str(local)
    return None


def _from_hub(arch: str, tag: str, device: str):
    _check_arch(arch)
    path = _cached_hub_file(arch, tag)
    if path is None:
        raise ModelError(
            f"pretrained weights {arch}:{tag} are not in the local cache and this machine is offline",
            "copy the weights file here and pass its path, or use the shipped genaudit-tiny-clip",
        )
    import open_clip

    try:
        model, _, preprocess = open_clip.create_model_and_transforms(arch, pretrained=path, device="cpu")
    except Exception as exc:
        raise ModelError(f"{arch}:{tag}: cached weights at {path} do not load ({exc})", "delete them from the cache") from None
    model.eval()
    return Embedder(
        name=f"{arch}:{tag}",
        weights_sha256=sha256_file(path),
        model=model.to(device),
        preprocess=preprocess,
        tokenizer=open_clip.get_tokenizer(arch),
        device=device,
        config_name=arch,
        source=f"hub:{tag}",
    )


def _random(arch: str, seed: int, device: str):
    _check_arch(arch)
    model, preprocess, tokenizer = _build(arch, device, seed)
    name = f"{arch}@random:{seed}"
    return Embedder(
        name=name,
        weights_sha256=_sha256_text(name),
        model=model,
        preprocess=preprocess,
        tokenizer=tokenizer,
        device=device,
        config_name=arch,
        source=f"random:{seed}",
    )


def load_embedder(name: str | None = None, device: str = "cpu"):
    """See audit.embed.load_embedder (the public entry point)."""
    name = (name or config.DEFAULT_MODEL).strip()
    if not name:
        name = config.DEFAULT_MODEL
    if name.startswith("hf-hub:"):
        raise ModelError(f"{name}: Hugging Face Hub models cannot be fetched offline", "pass a local checkpoint path instead")

    m = _RANDOM_RE.match(name)
    if m:
        return _random(m["arch"], int(m["seed"] or 0), device)

    path = Path(name).expanduser()
    looks_like_path = os.sep in name or name.startswith(".") or path.suffix in (".pt", ".pth", ".bin", ".ckpt")
    if name == config.DEFAULT_MODEL:
        directory = config.TINY_CLIP_DIR
        if not (directory / WEIGHTS_NAME).is_file():
            raise ModelError(
                f"the shipped tiny CLIP checkpoint is missing ({directory / WEIGHTS_NAME})",
                "train it with `audit embed train-tiny`, or use genaudit-tiny-clip@random:0 for tests",
            )
        return _from_checkpoint(directory / WEIGHTS_NAME, device, name=config.DEFAULT_MODEL)
    if path.is_dir():
        return _from_checkpoint(_weights_in_dir(path), device, name=str(path.resolve()))
    if path.is_file():
        return _from_checkpoint(path, device)
    if looks_like_path:
        raise ModelError(f"model path {name} does not exist", "check the path, or pass a model name")

    arch, _, tag = name.partition(":")
    if tag:
        return _from_hub(arch, tag, device)
    return _random(arch, 0, device)

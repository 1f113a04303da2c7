"""The denoiser: diffusers' UNet2DConditionModel in pixel space, built from a small named preset.

Presets are plain dicts (recorded verbatim in meta.json) so a checkpoint always rebuilds the same
architecture, the way open_clip keeps model configs as JSON.
"""

from __future__ import annotations

from typing import Any

from audit.errors import InputError

#: Allowed training/sampling resolutions (pixels, square).
RESOLUTIONS = (32, 64)

#: Named architectures. "small" is the shipped one (~1.7 M params at cross-attention width 128);
#: "tiny" is for tests (~0.3 M params, fast on one core).
PRESETS: dict[str, dict[str, Any]] = {
    "small": {"block_out_channels": [32, 64, 64], "layers_per_block": 1, "attention_head_dim": 8, "norm_num_groups": 8},
    "tiny": {"block_out_channels": [16, 32], "layers_per_block": 1, "attention_head_dim": 8, "norm_num_groups": 8},
}


def check_resolution(resolution: int) -> int:
    if int(resolution) not in RESOLUTIONS:
        raise InputError(
            f"resolution {resolution} is not supported", f"use one of {', '.join(map(str, RESOLUTIONS))}"
        )
    return int(resolution)


def unet_config(preset: str, resolution: int, cross_attention_dim: int) -> dict[str, Any]:
    """Full constructor kwargs for UNet2DConditionModel: the first block has no attention (cheap at full res)."""
    if preset not in PRESETS:
        raise InputError(f"unknown generator preset '{preset}'", f"use one of {', '.join(PRESETS)}")
    p = PRESETS[preset]
    n = len(p["block_out_channels"])
    return {
        "sample_size": check_resolution(resolution),
        "in_channels": 3,
        "out_channels": 3,
        "layers_per_block": p["layers_per_block"],
        "block_out_channels": list(p["block_out_channels"]),
        "down_block_types": ["DownBlock2D"] + ["CrossAttnDownBlock2D"] * (n - 1),
        "up_block_types": ["CrossAttnUpBlock2D"] * (n - 1) + ["UpBlock2D"],
        "cross_attention_dim": int(cross_attention_dim),
        "attention_head_dim": p["attention_head_dim"],
        "norm_num_groups": p["norm_num_groups"],
    }


def build_unet(config: dict[str, Any]):
    """Instantiate the UNet from a config dict (as stored in meta.json)."""
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(**config)


def count_params(model) -> int:
    return int(sum(p.numel() for p in model.parameters()))

"""Reference generator: a tiny text-conditional pixel-space diffusion model (diffusers UNet2DConditionModel,
DDPM training, DDIM sampling, classifier-free guidance) conditioned on the project's frozen CLIP text encoder.

Modules: models (architecture presets), schedule (noise schedules), text (frozen encoder), data
(manifest → tensors, exclusions, duplication), train, pipeline (sampling), sample (to a dir), store
(model dir format), measure (memorisation check). Light on import: torch/diffusers load lazily.
"""

from __future__ import annotations

__all__ = ["load_pipeline"]


def load_pipeline(model_dir, device: str = "cpu"):
    """See docs/CONTRACTS.md: `pipe(prompts, seed=0, steps=25, guidance=3.0) -> list[PIL.Image]`."""
    from audit.generate.pipeline import load_pipeline as _load

    return _load(model_dir, device=device)

"""Noise schedules: DDPM for training, DDIM (deterministic, eta=0) for sampling, from one shared config.

The same config dict is stored in meta.json so sampling always matches the schedule trained on.
"""

from __future__ import annotations

from typing import Any

#: Training schedule. Cosine ("squaredcos_cap_v2") keeps low-resolution images from being destroyed too early.
DEFAULT_SCHEDULE: dict[str, Any] = {
    "num_train_timesteps": 1000,
    "beta_schedule": "squaredcos_cap_v2",
    "prediction_type": "epsilon",
    "clip_sample": True,
    "clip_sample_range": 1.0,
}


def training_scheduler(config: dict[str, Any] | None = None):
    from diffusers import DDPMScheduler

    return DDPMScheduler(**(config or DEFAULT_SCHEDULE))


def sampling_scheduler(config: dict[str, Any] | None = None):
    """DDIM over the training schedule; `set_alpha_to_one` gives a clean final step."""
    from diffusers import DDIMScheduler

    return DDIMScheduler(**(config or DEFAULT_SCHEDULE), set_alpha_to_one=True, steps_offset=0)

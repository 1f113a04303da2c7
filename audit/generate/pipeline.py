"""Sampling: DDIM with classifier-free guidance over a trained generator dir.

Image i of a call uses its own noise generator seeded with `seed + i`, so an image is reproducible
alone (`--seed S+i --n 1`) and does not depend on batch size or on the other prompts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from PIL import Image

from audit.errors import ArtefactError, InputError
from audit.generate import store
from audit.generate.models import build_unet
from audit.generate.schedule import sampling_scheduler
from audit.generate.text import TextConditioner
from audit.meta import sha256_file, weights_sha256
from audit.progress import bar


@dataclass
class GeneratorPipeline:
    """A loaded generator: UNet (EMA weights), its frozen text encoder and noise schedule."""

    unet: Any
    text: Any  # TextConditioner
    schedule: dict[str, Any]
    resolution: int
    meta: dict[str, Any]
    weights_sha256: str
    model_dir: Path
    device: str = "cpu"

    def check_resolution(self, resolution: int | None) -> None:
        if resolution is not None and int(resolution) != self.resolution:
            raise InputError(
                f"{self.model_dir} was trained at {self.resolution} px, not {resolution} px",
                f"sample at --resolution {self.resolution} or train a {resolution} px model",
            )

    def __call__(
        self,
        prompts: Sequence[str],
        seed: int = 0,
        steps: int = 25,
        guidance: float = 3.0,
        seeds: Sequence[int] | None = None,
        batch_size: int = 16,
        progress: bool = False,
    ) -> list:
        """One image per prompt (repeat a prompt for several); returns PIL RGB images."""
        import torch

        prompts = [str(p) for p in prompts]
        n_train = int(self.schedule["num_train_timesteps"])
        if not 1 <= int(steps) <= n_train:
            raise InputError(f"--steps {steps} is out of range", f"use 1..{n_train} (25 is typical)")
        if not (guidance >= 0 and np.isfinite(guidance)):
            raise InputError(f"--guidance {guidance} must be a finite number ≥ 0", "3.0 is typical; 1.0 = no guidance")
        for p in dict.fromkeys(prompts):
            self.text.check_prompt(p)
        seeds = list(seeds) if seeds is not None else [int(seed) + i for i in range(len(prompts))]
        if len(seeds) != len(prompts):
            raise InputError("one seed per prompt is needed")
        uniq = list(dict.fromkeys(prompts))
        states = self.text.encode(uniq)
        row = {p: i for i, p in enumerate(uniq)}
        empty = self.text.encode([""])
        r = self.resolution
        images: list = []
        # counted in denoising steps (images x steps), so a long batch shows movement, not one jump at its end
        pbar = bar(len(prompts) * int(steps), "sampling", unit="step") if progress else None
        self.unet.eval()
        with torch.inference_mode():
            for start in range(0, len(prompts), batch_size):
                chunk = prompts[start : start + batch_size]
                cond = states[[row[p] for p in chunk]].to(self.device)
                uncond = empty.expand(len(chunk), -1, -1).to(self.device)
                x = torch.stack([
                    torch.randn((3, r, r), generator=torch.Generator().manual_seed(int(s)))
                    for s in seeds[start : start + batch_size]
                ]).to(self.device)
                sched = sampling_scheduler(self.schedule)
                sched.set_timesteps(int(steps))
                for t in sched.timesteps:
                    if guidance == 1.0:
                        eps = self.unet(x, t, cond).sample
                    else:
                        eps_u, eps_c = self.unet(torch.cat([x, x]), t, torch.cat([uncond, cond])).sample.chunk(2)
                        eps = eps_u + guidance * (eps_c - eps_u)
                    x = sched.step(eps, t, x, eta=0.0).prev_sample
                    if pbar is not None:
                        pbar.update(len(chunk))
                pix = ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
                images.extend(Image.fromarray(a, "RGB") for a in pix)
        if pbar is not None:
            pbar.close()
        return images


def load_pipeline(model_dir: str | Path, device: str = "cpu") -> GeneratorPipeline:
    """Load a generator dir (checked: kind, format version, files) with its recorded text encoder."""

    model_dir = Path(model_dir)
    meta = store.check_model_dir(model_dir)
    te = meta["text_encoder"]
    text = TextConditioner(te["name"], device=device, expected_weights_sha256=weights_sha256(te))
    unet = build_unet(meta["unet"])
    try:
        unet.load_state_dict(store.load_weights(model_dir))
    except RuntimeError as exc:
        raise ArtefactError(f"{model_dir}/{store.WEIGHTS_NAME} does not match its meta.json architecture",
                            f"retrain the model ({str(exc).splitlines()[0]})") from None
    unet.to(device).eval()
    return GeneratorPipeline(unet=unet, text=text, schedule=meta["schedule"], resolution=int(meta["resolution"]),
                             meta=meta, weights_sha256=sha256_file(model_dir / store.WEIGHTS_NAME), model_dir=model_dir, device=device)

"""Does the generator memorise? Sample the captions of duplicated training items and compare the
samples with those items' pixels, against the same protocol on non-duplicated items.

Distances at the training resolution: RMS pixel distance in [0, 1] (0 = identical) and SSIM
(1 = identical), best over the n samples of each caption, medians per group. A copy here is the known-item
definition owned by audit.memorisation.verdict (`KNOWN_ITEM_COPY_RMS`), not the scan's verdict.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from audit.errors import InputError
from audit.generate.pipeline import load_pipeline
from audit.memorisation.verdict import KNOWN_ITEM_COPY_RMS
from audit.similarity import ssim


@dataclass(frozen=True)
class GroupStats:
    name: str
    items: int
    duplication: float  # median factor
    rms_median: float
    ssim_median: float
    copies: int  # items whose best sample has RMS < KNOWN_ITEM_COPY_RMS


@dataclass(frozen=True)
class MemorisationReport:
    duplicated: GroupStats
    control: GroupStats
    n: int
    copy_rms: float

    def lines(self) -> list[str]:
        out = [
            f"{'group':<11}{'items':>6}{'dup':>6}{'RMS med':>9}{'SSIM med':>10}{'copies':>8}"
            f"  (best of {self.n}, copy = RMS < {self.copy_rms})"
        ]
        for g in (self.duplicated, self.control):
            out.append(f"{g.name:<11}{g.items:>6}{g.duplication:>6.0f}{g.rms_median:>9.3f}{g.ssim_median:>10.3f}{g.copies:>8}")
        return out


def image_distances(sample: np.ndarray, original: np.ndarray) -> tuple[float, float]:
    """(RMS in [0,1], SSIM) between two HxWx3 uint8 images of the same size."""
    a, b = sample.astype(np.float32) / 255.0, original.astype(np.float32) / 255.0
    rms = float(np.sqrt(np.mean((a - b) ** 2)))
    return rms, ssim(a, b, data_range=1.0, colour=True)


def measure_memorisation(
    model_dir: str | Path,
    datasets: Sequence[str],
    n: int = 4,
    controls: int = 8,
    seed: int = 0,
    steps: int = 25,
    guidance: float = 3.0,
) -> MemorisationReport:
    from audit.generate.data import build_training_set

    pipe = load_pipeline(model_dir)
    training = pipe.meta.get("training", {})
    dup = {k: int(v) for k, v in training.get("duplication", {}).items() if int(v) > 1}
    if not dup:
        raise InputError(f"{model_dir} was trained without --duplicate", "nothing to measure memorisation against")
    data = build_training_set(datasets, pipe.resolution, None, training.get("exclude_authors", []))
    pos = {k: i for i, k in enumerate(data.keys)}
    missing = [k for k in dup if k not in pos]
    if missing:
        raise InputError(
            f"duplicated key(s) {', '.join(missing[:3])} are not in the given dataset(s)", "pass the dataset(s) the model was trained on"
        )
    rng = np.random.default_rng(seed)
    others = [k for k in data.keys if k not in dup]
    ctrl = [others[i] for i in rng.choice(len(others), size=min(controls, len(others)), replace=False)]

    def group(name: str, keys: list[str]) -> GroupStats:
        prompts = [data.captions[data.caption_of[pos[k]]] for k in keys for _ in range(n)]
        seeds = [seed + i for _ in keys for i in range(n)]
        imgs = pipe(prompts, steps=steps, guidance=guidance, seeds=seeds, progress=True)
        rms, ssims = [], []
        for j, k in enumerate(keys):
            orig = np.round((data.pixels[pos[k]].transpose(1, 2, 0) + 1) * 127.5).clip(0, 255).astype(np.uint8)
            d = [image_distances(np.asarray(im), orig) for im in imgs[j * n : (j + 1) * n]]
            rms.append(min(x[0] for x in d))
            ssims.append(max(x[1] for x in d))
        factors = [dup.get(k, 1) for k in keys]
        copies = int(sum(r < KNOWN_ITEM_COPY_RMS for r in rms))
        return GroupStats(name, len(keys), float(np.median(factors)), float(np.median(rms)), float(np.median(ssims)), copies)

    return MemorisationReport(group("duplicated", list(dup)), group("control", ctrl), n, KNOWN_ITEM_COPY_RMS)

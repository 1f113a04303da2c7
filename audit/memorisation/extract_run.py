"""`audit memorisation extract`: sample many images per caption, flag collapsing captions, write OUT atomically.

OUT/
  extraction.parquet  one row per caption: prompt, samples, clique_size, clique (seed offsets), flagged, reason
  samples/            every sample (pNNN_MMM.png, seed = --seed + MMM)
  flagged/            one representative per flagged caption (the clique's medoid)
  scan/               with --index: a memorisation report of the representatives (copy / similar / novel)
  meta.json           kind="extraction", generator weights hash, settings, spread, prompts hash
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from audit.atomic import atomic_dir
from audit.errors import InputError
from audit.generate.pipeline import load_pipeline
from audit.memorisation.extract import CaptionExtraction, ExtractionSettings, judge_all, standardise, tile_rms
from audit.meta import make_meta, sha256_strings, write_meta

RESULTS_NAME = "extraction.parquet"


@dataclass(frozen=True)
class ExtractionRun:
    out: Path
    captions: list[CaptionExtraction]
    spread: float
    scan_counts: dict[str, int] | None
    seconds: float

    @property
    def flagged(self) -> list[CaptionExtraction]:
        return [c for c in self.captions if c.flagged]


def _medoid(clique: tuple[int, ...], arrays: Any) -> int:
    """The clique member closest on average to the others (the most typical near-copy)."""
    if len(clique) < 3:
        return clique[0]
    d = tile_rms(standardise(arrays[list(clique)]))
    return clique[int(d.sum(1).argmin())]


def extract_captions(generator: str | Path, prompts: Sequence[str], out: str | Path, *, samples_per_prompt: int = 16,
                     seed: int = 0, steps: int = 25, guidance: float = 3.0, index: str | Path | None = None,
                     settings: ExtractionSettings | None = None, overwrite: bool = False,
                     device: str = "cpu") -> ExtractionRun:
    """Sample `samples_per_prompt` images per caption (seeds seed..seed+n-1), judge, and write OUT."""
    import pandas as pd

    from audit.memorisation.run import check_report_dir

    settings = settings or ExtractionSettings()
    prompts = list(dict.fromkeys(str(p) for p in prompts))
    if len(prompts) < 2:
        raise InputError("extraction needs at least two distinct captions",
                         "the generator's own spread is measured across captions; give more prompts")
    if samples_per_prompt < max(settings.min_clique, 2):
        raise InputError(f"--samples-per-prompt {samples_per_prompt} is too small",
                         f"use at least {max(settings.min_clique, 2)} (16 or more is typical)")
    out = Path(out)
    check_report_dir(out, overwrite)
    t0 = time.monotonic()
    pipe = load_pipeline(generator, device=device)
    flat = [p for p in prompts for _ in range(samples_per_prompt)]
    seeds = [int(seed) + i for _ in prompts for i in range(samples_per_prompt)]
    images = pipe(flat, steps=steps, guidance=guidance, seeds=seeds, progress=True)
    arrays = np.stack([np.asarray(im, dtype=np.float32) / 255.0 for im in images])
    groups = [arrays[i * samples_per_prompt:(i + 1) * samples_per_prompt] for i in range(len(prompts))]
    try:
        captions, base = judge_all(prompts, groups, settings, seed=seed)
    except ValueError as exc:
        raise InputError(f"cannot judge extraction: {exc}", "check the generator samples") from None
    order = {p: i for i, p in enumerate(prompts)}
    scan_counts: dict[str, int] | None = None
    with atomic_dir(out) as tmp:
        (tmp / "samples").mkdir()
        (tmp / "flagged").mkdir()
        for j, img in enumerate(images):
            p_idx, i = divmod(j, samples_per_prompt)
            img.save(tmp / "samples" / f"p{p_idx:03d}_{i:03d}.png")
        rows = []
        for c in captions:
            p_idx = order[c.prompt]
            rep = _medoid(c.clique, groups[p_idx]) if c.flagged else None
            if rep is not None:
                images[p_idx * samples_per_prompt + rep].save(tmp / "flagged" / f"p{p_idx:03d}_{rep:03d}.png")
            rows.append({**{k: v for k, v in asdict(c).items() if k != "clique"}, "clique": list(c.clique),
                         "clique_size": c.clique_size, "prompt_index": p_idx,
                         "representative": None if rep is None else f"flagged/p{p_idx:03d}_{rep:03d}.png"})
        if index is not None and any(c.flagged for c in captions):
            from audit.memorisation.run import scan_folder

            summary = scan_folder(tmp / "flagged", Path(index), tmp / "scan", overwrite=True, seed=seed)
            scan_counts = dict(summary["counts"])
            verdicts = pd.read_parquet(tmp / "scan" / "matches.parquet", columns=["query_path", "verdict", "match_key"])
            by_name = {Path(q).name: (v, k) for q, v, k in zip(verdicts["query_path"], verdicts["verdict"], verdicts["match_key"])}
            for r in rows:
                name = Path(r["representative"]).name if r["representative"] else None
                r["scan_verdict"], r["scan_match_key"] = by_name.get(name, (None, None)) if name else (None, None)
        pd.DataFrame(rows).to_parquet(tmp / RESULTS_NAME, index=False)
        write_meta(tmp, make_meta("extraction", generator=str(Path(generator).resolve()), weights_sha256=pipe.weights_sha256,
                                  prompts_sha256=sha256_strings(prompts), prompts=len(prompts),
                                  samples_per_prompt=samples_per_prompt, seed=seed, steps=steps, guidance=guidance,
                                  settings=asdict(settings), spread=base, index=None if index is None else str(index),
                                  flagged=sum(c.flagged for c in captions), scan_counts=scan_counts))
    return ExtractionRun(out, captions, base, scan_counts, time.monotonic() - t0)

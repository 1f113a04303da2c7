"""`audit generate sample`: prompts → PNGs + samples.parquet + meta.json in one atomically written dir.

The directory's layout and its readers belong to audit.generate.samples_layout."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from audit.atomic import atomic_dir
from audit.errors import ArtefactError, InputError
from audit.generate import samples_layout
from audit.generate.pipeline import load_pipeline
from audit.meta import make_meta, write_meta
from audit.provenance.assertions import ImageFacts, ManifestOptions, read_generator
from audit.provenance.durable import upscale_for_mark
from audit.provenance.stamp import Stamper


def read_prompts_file(path: str | Path) -> list[str]:
    """One prompt per line; blank lines and `#` comments are skipped."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"prompts file {p} does not exist")
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise InputError(f"prompts file {p} is not UTF-8 text", "one prompt per line") from None
    prompts = [ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith("#")]
    if not prompts:
        raise InputError(f"prompts file {p} has no prompts", "one prompt per line")
    return prompts


def _check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file", "give a directory")
    if out.is_dir() and any(out.iterdir()) and not samples_layout.is_samples_dir(out):
        raise ArtefactError(f"--out {out} is not empty and holds no earlier samples", "use a new directory")


@dataclass(frozen=True)
class SampleResult:
    out: Path
    count: int
    weights_sha256: str
    seconds: float


def sample_to_dir(
    model_dir: str | Path,
    prompts: Sequence[str],
    out: str | Path,
    n: int = 16,
    seed: int = 0,
    steps: int = 25,
    guidance: float = 3.0,
    resolution: int | None = None,
    device: str = "cpu",
    stamp: bool = False,
    durable: bool = False,
    store: str | Path | None = None,
    ca: str | Path | None = None,
) -> SampleResult:
    """n images per prompt; image i of each prompt uses seed+i. Replaces an earlier samples dir whole."""
    import pandas as pd

    if n < 1:
        raise InputError(f"--n {n} must be at least 1")
    if not prompts:
        raise InputError("no prompt given", "use --prompt TEXT or --prompts-file FILE")
    out = Path(out)
    _check_out(out)
    t0 = time.monotonic()
    pipe = load_pipeline(model_dir, device=device)
    pipe.check_resolution(resolution)
    stamper = _stamper(model_dir, stamp, durable, store, ca)
    flat = [p for p in prompts for _ in range(n)]
    seeds = [int(seed) + i for _ in prompts for i in range(n)]
    images = pipe(flat, steps=steps, guidance=guidance, seeds=seeds, progress=True)
    rows = []
    with atomic_dir(out) as tmp:
        for j, (img, prompt, s) in enumerate(zip(images, flat, seeds)):
            p_idx, i = divmod(j, n)
            name = samples_layout.image_name(p_idx, i)
            edits: tuple[Any, ...] = ()
            native = img.size
            if durable:  # below the watermark's minimum size: Lanczos-upscale, recorded as c2pa.resized

                img, action = upscale_for_mark(img, name)
                edits = () if action is None else (action,)
            img.save(tmp / name)
            if stamper is not None:  # C2PA-sign each sample inside the temp dir, before it is published

                stamper.stamp(tmp / name, tmp / name, ImageFacts(prompt=prompt, seed=s, edits=edits), overwrite=True)
            rows.append({"path": name, "prompt": prompt, "seed": s, "index": i, "prompt_index": p_idx,
                         "weights_sha256": pipe.weights_sha256, "steps": int(steps), "guidance": float(guidance),
                         "width": img.size[0], "height": img.size[1],
                         "upscaled_from": f"{native[0]}x{native[1]}" if img.size != native else None})
        pd.DataFrame(rows).to_parquet(samples_layout.table_path(tmp), index=False)
        write_meta(tmp, make_meta(samples_layout.KIND, model_dir=str(Path(model_dir).resolve()), weights_sha256=pipe.weights_sha256,
                                  text_encoder=pipe.meta["text_encoder"], resolution=pipe.resolution,
                                  prompts=list(prompts), n=n, seed=seed, steps=steps, guidance=guidance,
                                  count=len(rows), scheduler="DDIM eta=0"))
    if stamper is not None:
        stamper.close()
    return SampleResult(out, len(rows), pipe.weights_sha256, time.monotonic() - t0)


def _stamper(model_dir, stamp: bool, durable: bool, store, ca):
    """A provenance Stamper recording this generator, or None (--durable upscales small samples, see above)."""
    if durable and not stamp:
        raise InputError("--durable needs --stamp")
    if not stamp:
        return None

    return Stamper(ca, options=ManifestOptions(generator=read_generator(model_dir)), durable=durable, store=store)

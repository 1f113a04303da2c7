"""`audit generate …`: train and sample the reference generator (thin calls into audit.generate)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from audit import config
from audit.cli_renames import renamed

app = typer.Typer(no_args_is_help=True, help="Train and sample the tiny reference text-to-image generator.")


@app.command("train", cls=renamed({"--clip": "--model"}))
def train_cmd(
    dataset: List[Path] = typer.Option(..., "--dataset", help="Dataset dir or manifest.parquet (repeatable)."),
    out: Path = typer.Option(..., "--out", help="Model dir (resumes if it holds an earlier run)."),
    duplicate: List[str] = typer.Option([], "--duplicate", help="KEY=N: show item KEY N times per epoch."),
    exclude_author: List[str] = typer.Option([], "--exclude-author", help="Leave out every item by this author."),
    exclude_key: List[str] = typer.Option([], "--exclude-key", help="Leave out the item with this key (repeatable)."),
    steps: Optional[int] = typer.Option(None, "--steps", help="Total training steps (counting resumed ones)."),
    minutes: Optional[float] = typer.Option(None, "--minutes", help="Wall-time budget for this invocation."),
    resolution: int = typer.Option(32, "--resolution", help="32 or 64 px."),
    seed: int = typer.Option(0, "--seed"),
    batch: int = typer.Option(32, "--batch"),
    lr: float = typer.Option(1e-3, "--lr"),
    preset: str = typer.Option("small", "--preset", help="Architecture: small (~1.7 M params) or tiny."),
    clip: Optional[str] = typer.Option(
        None, "--model", help="CLIP model used as the text encoder (default: shipped tiny CLIP, else @random:0)."
    ),
    save_every: int = typer.Option(200, "--save-every", help="Checkpoint every N steps (atomic)."),
    device: str = typer.Option("cpu", "--device"),
) -> None:
    """Train on a manifest; per-item duplication and author exclusions are recorded in meta.json."""
    from audit.generate.data import parse_duplicates
    from audit.generate.train import GeneratorTrainSettings, train

    res = train(GeneratorTrainSettings(
        datasets=tuple(str(d) for d in dataset), out=str(out), duplicates=parse_duplicates(duplicate),
        exclude_authors=tuple(exclude_author), exclude_keys=tuple(exclude_key), steps=steps, minutes=minutes,
        resolution=resolution, seed=seed,
        batch=batch, lr=lr, preset=preset, clip=clip, save_every=save_every, device=device,
    ))
    if res.unmatched_authors:
        typer.echo(f"note: no item by {', '.join(res.unmatched_authors)} was in the dataset", err=True)
    how = f"resumed from step {res.resumed_from}, " if res.resumed_from is not None else ""
    loss = f", last loss {res.final_loss:.4f}" if res.final_loss is not None else ""
    typer.echo(f"{res.model_dir}: step {res.step} ({how}{res.steps_run} run in {res.seconds:.0f} s{loss}), "
               f"{res.params:,} params, {res.excluded} item(s) excluded")


@app.command("sample", cls=renamed({"--model": "--generator"}))
def sample_cmd(
    generator: Path = typer.Option(config.GENERATOR_DIR, "--generator", show_default=False,
                                   help="Generator model dir (default: the shipped generator, data/generator)."),
    out: Path = typer.Option(..., "--out", help="Output dir for PNGs, samples.parquet, meta.json."),
    prompt: List[str] = typer.Option([], "--prompt", help="Prompt (repeatable)."),
    prompts_file: Optional[Path] = typer.Option(None, "--prompts-file", help="One prompt per line."),
    n: int = typer.Option(16, "--n", help="Images per prompt; image i uses seed+i."),
    seed: int = typer.Option(0, "--seed"),
    steps: int = typer.Option(25, "--steps", help="DDIM steps."),
    guidance: float = typer.Option(3.0, "--guidance", help="Classifier-free guidance scale (1 = none)."),
    resolution: Optional[int] = typer.Option(None, "--resolution", help="Must equal the trained resolution."),
    device: str = typer.Option("cpu", "--device"),
    stamp: bool = typer.Option(False, "--stamp", help="C2PA-sign each sample (generator, prompt, seed)."),
    durable: bool = typer.Option(
        False,
        "--durable",
        help="With --stamp: add a watermark id + manifest store entry (samples under 256 px are upscaled first, recorded as c2pa.resized).",
    ),
    store: Optional[Path] = typer.Option(None, "--store", help="Manifest store dir for --durable."),
    ca: Optional[Path] = typer.Option(None, "--ca", help="CA dir for --stamp (default: local test CA)."),
) -> None:
    """Generate images for prompts with DDIM + classifier-free guidance."""
    from audit.generate.sample import read_prompts_file, sample_to_dir

    prompts = list(prompt) + (read_prompts_file(prompts_file) if prompts_file else [])
    res = sample_to_dir(
        generator,
        prompts,
        out,
        n=n,
        seed=seed,
        steps=steps,
        guidance=guidance,
        resolution=resolution,
        device=device,
        stamp=stamp,
        durable=durable,
        store=store,
        ca=ca,
    )
    typer.echo(f"{res.out}: {res.count} images in {res.seconds:.1f} s (model {res.weights_sha256[:12]})")


@app.command("measure", cls=renamed({"--model": "--generator"}))
def measure_cmd(
    generator: Path = typer.Option(..., "--generator", help="Generator model dir."),
    dataset: List[Path] = typer.Option(..., "--dataset", help="The dataset(s) it was trained on."),
    n: int = typer.Option(4, "--n", help="Samples per caption."),
    controls: int = typer.Option(8, "--controls", help="How many non-duplicated items to compare with."),
    seed: int = typer.Option(0, "--seed"),
    steps: int = typer.Option(25, "--steps"),
    guidance: float = typer.Option(3.0, "--guidance"),
) -> None:
    """Memorisation check: samples of duplicated captions vs their originals, against non-duplicated ones."""
    from audit.generate.measure import measure_memorisation

    rep = measure_memorisation(generator, [str(d) for d in dataset], n=n, controls=controls, seed=seed, steps=steps, guidance=guidance)
    for line in rep.lines():
        typer.echo(line)

"""`audit memorisation …`: scan generated images for copies of training images; record reviews."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(no_args_is_help=True, help="Find generated images that copy training images.")


@app.command()
def scan(
    generated_dir: Path = typer.Argument(..., help="Folder of generated images (searched recursively)."),
    index: Path = typer.Option(..., "--index", help="Index directory built by `audit index build`."),
    out: Path = typer.Option(..., "--out", help="Report directory to write."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing report in --out."),
    k: int = typer.Option(10, "--k", help="CLIP nearest neighbours retrieved per image."),
    verify_k: int = typer.Option(3, "--verify-k", help="Of those, how many get pixel evidence (plus all pHash hits)."),
    thresholds: Optional[str] = typer.Option(None, "--thresholds", help="JSON object or .json file overriding thresholds."),
    detector: str = typer.Option("orb", "--detector", help="Local features: orb (fast) or sift."),
    baseline: int = typer.Option(100, "--baseline", help="Training images sampled for the baseline distribution."),
    workers: int = typer.Option(2, "--workers", help="Threads for pixel evidence."),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Verdict (copy / similar / novel) per generated image, with evidence, in REPORT_DIR."""
    from audit.errors import InputError
    from audit.memorisation.run import scan_folder
    from audit.memorisation.verdict import Thresholds

    if detector not in ("orb", "sift"):
        raise InputError(f"--detector {detector!r} is not supported", "use orb or sift")
    summary = scan_folder(generated_dir, index, out, k=k, thresholds=Thresholds.from_json(thresholds),
                          overwrite=overwrite, verify_k=verify_k, detector=detector, baseline_sample=baseline,
                          workers=workers, seed=seed)
    c = summary["counts"]
    typer.echo(f"{summary['images']} image(s): {c['copy']} copy, {c['similar']} similar, {c['novel']} novel; "
               f"{len(summary['skipped'])} skipped")
    for w in summary["warnings"]:
        typer.secho(f"warning: {w}", fg="yellow", err=True)
    typer.echo(f"report: {out / 'report.html'}")


@app.command()
def extract(
    generator: Path = typer.Option(..., "--generator", help="Generator directory (audit generate train; data/generator ships one)."),
    prompts: Path = typer.Option(..., "--prompts", help="Text file, one caption per line (# comments allowed)."),
    out: Path = typer.Option(..., "--out", help="Output directory (extraction.parquet, samples/, flagged/, meta.json)."),
    samples_per_prompt: int = typer.Option(16, "--samples-per-prompt", help="Images sampled per caption (seeds SEED..)."),
    index: Optional[Path] = typer.Option(None, "--index", help="Also check flagged cliques against this index (a scan)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing extraction in --out."),
    steps: int = typer.Option(25, "--steps", help="DDIM steps per sample."),
    guidance: float = typer.Option(3.0, "--guidance", help="Classifier-free guidance scale."),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Flag captions whose samples collapse into near-identical cliques (memorised), without the training set."""
    from audit.generate.sample import read_prompts_file
    from audit.memorisation.extract_run import extract_captions

    run = extract_captions(generator, read_prompts_file(prompts), out, samples_per_prompt=samples_per_prompt,
                           seed=seed, steps=steps, guidance=guidance, index=index, overwrite=overwrite)
    typer.echo(f"{len(run.captions)} caption(s), {len(run.flagged)} flagged (spread {run.spread:.3f}) "
               f"in {run.seconds:.0f} s")
    for c in run.captions[:10]:
        typer.echo(f"  {'FLAG' if c.flagged else '    '} {c.clique_size:>3}/{c.samples}  {c.prompt}")
    if run.scan_counts is not None:
        typer.echo(f"scan of flagged cliques: {run.scan_counts}")
    typer.echo(f"results: {out / 'extraction.parquet'}")


@app.command()
def review(
    report_dir: Path = typer.Argument(..., help="Report directory written by `audit memorisation scan`."),
    query_path: str = typer.Argument(..., help="query_path of the generated image (as in matches.parquet)."),
    decision: str = typer.Argument(..., help="confirmed or false_positive."),
    note: str = typer.Option("", "--note"),
    reviewer: str = typer.Option("", "--reviewer"),
) -> None:
    """Record a reviewer decision next to the report (reviews.parquet)."""
    from audit.memorisation.review import record

    r = record(report_dir, query_path, decision, note, reviewer)
    typer.echo(f"recorded {r.decision} for {r.query_path}")

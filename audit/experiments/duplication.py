"""Duplication experiment: how often does the generator copy an item seen L times per epoch?

ONE generator is trained on a set where each level's own items are duplicated ×L. All levels share the
model, the training budget, the optimiser trajectory and the sampler, so the only thing that differs
between levels is the duplication factor (separate models per level would confound duplication with
total steps per model and with training noise, and cost levels × the CPU).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from audit import config
from audit.atomic import write_json, write_text
from audit.errors import InputError
from audit.experiments import measure
from audit.experiments.measure import RunSettings
from audit.experiments.trainset import build_experiment_set, pick_real_items, real_keys_in
from audit.index import build_index
from audit.meta import make_meta, read_meta, weights_sha256, write_meta

WHY_ONE_MODEL = ("one model for all levels: every level gets the same training budget, seed and sampler, so "
                 "differences between rows come from the duplication factor alone")


@dataclass(frozen=True, kw_only=True)
class DuplicationSettings(RunSettings):
    levels: tuple[int, ...] = (1, 10, 100)
    items: int = 3
    base_dataset: str = str(config.REFERENCE_DIR)
    synthetic: int = 300


def parse_levels(text: str) -> tuple[int, ...]:
    """'1,10,100' → (1, 10, 100): whole numbers ≥ 1, no repeats."""
    try:
        levels = tuple(int(p) for p in str(text).split(",") if p.strip())
    except ValueError:
        raise InputError(f"--levels {text!r} is not a comma-separated list of whole numbers", "e.g. --levels 1,10,100") from None
    if not levels or min(levels) < 1 or len(set(levels)) != len(levels):
        raise InputError(f"--levels {text!r}: need distinct factors ≥ 1", "e.g. --levels 1,10,100")
    return levels


def summarise(df: pd.DataFrame) -> pd.DataFrame:
    """One row per level from per-sample rows (columns level, item_key, copy_of_item, verdict, rms, ...)."""
    best = df.groupby(["level", "item_key"]).agg(best_rms=("rms", "min"), best_ssim=("ssim", "max"),
                                                  any_copy=("copy_of_item", "any"))
    per_item = best.groupby("level").agg(items=("best_rms", "size"), median_best_rms=("best_rms", "median"),
                                         median_best_ssim=("best_ssim", "median"),
                                         items_copied=("any_copy", "sum"))
    per_sample = df.groupby("level").agg(samples=("path", "size"), copy_rate=("copy_of_item", "mean"),
                                         flagged_rate=("verdict", lambda v: float((v != "novel").mean())),
                                         median_clip_cosine=("clip_cosine", "median"))
    out = per_item.join(per_sample).reset_index()
    out["items_copied"] = out["items_copied"].astype(int)
    return out[["level", "items", "samples", "copy_rate", "flagged_rate", "items_copied", "median_best_rms",
                "median_best_ssim", "median_clip_cosine"]]


def run_duplication(s: DuplicationSettings) -> dict:
    """Run the whole experiment into s.out; returns summary.json's content."""
    if s.steps is None and s.minutes is None:
        raise InputError("give --steps N or --minutes M", "e.g. --steps 3000")
    if s.items < 1 or s.n < 1:
        raise InputError("--items and --n must be at least 1")
    out = Path(s.out)
    t0 = time.monotonic()
    real = pick_real_items(s.base_dataset, s.items * len(s.levels), s.seed)
    dataset = build_experiment_set(out / "dataset", real, s.synthetic, s.seed, s.base_dataset)
    keys = real_keys_in(dataset, list(real["key"].astype(str)))
    if len(keys) != len(real):
        raise InputError(f"{len(real) - len(keys)} chosen item(s) could not be stored", f"see {dataset}/meta.json")
    # Levels go to a seeded shuffle of the items, not manifest order, so level is not tied to image type.
    shuffled = sorted(keys)
    random.Random(s.seed).shuffle(shuffled)
    level_of = {k: s.levels[i // s.items] for i, k in enumerate(shuffled)}
    caption_of = dict(zip(real["key"].astype(str), real["caption"].astype(str).str.strip()))
    duplicates = {k: lv for k, lv in level_of.items() if lv > 1}
    res = measure.train_model(dataset, out / "model", duplicates=duplicates, steps=s.steps, minutes=s.minutes,
                              seed=s.seed, preset=s.preset, clip=s.clip, batch=s.batch)
    index_dir = build_index(dataset, out / "index")
    prompts = [caption_of[k] for k in keys]
    df, scan_summary = measure.sample_and_scan(out / "model", prompts, out, n=s.n, seed=s.seed,
                                               sample_steps=s.sample_steps, index_dir=index_dir,
                                               baseline_sample=s.baseline_sample)
    df["item_key"] = [keys[i] for i in df["prompt_index"]]
    df["level"] = [level_of[k] for k in df["item_key"]]
    df = measure.add_item_scores(df, dataset, index_dir)
    table = summarise(df)
    df.drop(columns=["abs_path"]).to_parquet(out / "samples_scored.parquet", index=False)
    table.to_parquet(out / "results.parquet", index=False)
    model_meta = read_meta(out / "model")
    summary = {
        "experiment": "duplication", "levels": list(s.levels), "items_per_level": s.items, "n": s.n,
        "train_steps": res.step, "train_seconds": round(res.seconds, 1), "final_loss": res.final_loss,
        "why_one_model": WHY_ONE_MODEL, "item_levels": level_of,
        "results": table.to_dict(orient="records"), "scan_counts": scan_summary.get("counts"),
        "seconds": round(time.monotonic() - t0, 1),
    }
    write_json(out / "summary.json", summary)
    write_text(out / "report.html", render(table, summary))
    write_meta(out, make_meta("experiment-duplication", settings=s.__dict__, why_one_model=WHY_ONE_MODEL,
                              dataset_manifest_hash=model_meta["training"]["manifest_hash"],
                              weights_sha256=weights_sha256(model_meta), train_command=model_meta["training"]["train_command"],
                              item_levels=level_of, index_dir=str(index_dir), seed=s.seed))
    return summary


def render(table: pd.DataFrame, summary: dict) -> str:
    levels = list(table["level"])
    plots = [
        measure.plot_png_b64(levels, {"copy rate (scan: copy of own item)": table["copy_rate"],
                                      "flagged rate (copy or similar)": table["flagged_rate"]},
                             xlabel="duplication factor", ylabel="rate", title="Memorisation vs duplication",
                             logx=max(levels) / max(min(levels), 1) >= 10),
        measure.plot_png_b64(levels, {"median best RMS to own item": table["median_best_rms"]},
                             xlabel="duplication factor", ylabel="RMS (0 = identical)",
                             title="Closest generation per item", logx=max(levels) / max(min(levels), 1) >= 10),
    ]
    intro = (f"One generator, {summary['train_steps']} training steps; {summary['items_per_level']} real item(s) "
             f"per level, each caption sampled {summary['n']}×; levels {summary['levels']}.")
    return measure.html_page("Duplication experiment", intro, table, plots, [WHY_ONE_MODEL,
                             "copy rate = share of samples the memorisation scan calls a copy of the item whose "
                             "caption produced them; best RMS is over that item's samples, at 32 px."])



"""Opt-out experiment: how close do generations for an artist's captions come to the artist's works
when the generator was trained with them, and when they were excluded (exclude-author)?

Both generators share the training set (minus the artist in one), seed, budget and sampler. The
artist's works are duplicated ×`duplicate` in the "with" model (recorded) so that a small CPU budget
can show memorisation at all; the "without" model never sees them. Both sets of samples are scanned
against an index that *contains* the artist's works, so a copy would be found either way.
"""

from __future__ import annotations

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
from audit.meta import make_meta, write_meta

ARMS = ("with_artist", "without_artist")


@dataclass(frozen=True, kw_only=True)
class OptoutSettings(RunSettings):
    artist: str
    base_dataset: str = str(config.REFERENCE_DIR)
    works: int = 4
    others: int = 4
    synthetic: int = 300
    duplicate: int = 10


def summarise(df: pd.DataFrame) -> pd.DataFrame:
    """One row per arm: copy rate, flagged rate, closeness (best RMS per work, CLIP cosine) to the works."""
    best = df.groupby(["arm", "item_key"]).agg(best_rms=("rms", "min"), best_ssim=("ssim", "max"),
                                               best_clip=("clip_cosine", "max"))
    per_item = best.groupby("arm").agg(works=("best_rms", "size"), median_best_rms=("best_rms", "median"),
                                       median_best_ssim=("best_ssim", "median"),
                                       median_best_clip_cosine=("best_clip", "median"))
    per_sample = df.groupby("arm").agg(samples=("path", "size"), copy_rate=("copy_of_item", "mean"),
                                       artist_match_rate=("artist_match", "mean"),
                                       mean_clip_cosine=("clip_cosine", "mean"), mean_scan_score=("score", "mean"))
    out = per_item.join(per_sample).reindex(list(ARMS)).reset_index()
    return out[["arm", "works", "samples", "copy_rate", "artist_match_rate", "median_best_rms", "median_best_ssim",
                "median_best_clip_cosine", "mean_clip_cosine", "mean_scan_score"]]


def run_optout(s: OptoutSettings) -> dict:
    """Train both arms, sample the artist's captions, scan, compare; returns summary.json's content."""
    measure.check_budget(s.steps, s.minutes)
    if s.works < 1 or s.n < 1 or s.duplicate < 1:
        raise InputError("--works, --n and --duplicate must be at least 1")
    out = Path(s.out)
    t0 = time.monotonic()
    works = pick_real_items(s.base_dataset, s.works, s.seed, author=s.artist)
    others = pick_real_items(s.base_dataset, s.others, s.seed, exclude_author=s.artist) if s.others else works.iloc[:0]
    real = pd.concat([works, others], ignore_index=True)
    dataset = build_experiment_set(out / "dataset", real, s.synthetic, s.seed, s.base_dataset)
    keys = real_keys_in(dataset, list(works["key"].astype(str)))
    if len(keys) != len(works):
        raise InputError(f"{len(works) - len(keys)} of {s.artist!r}'s works could not be stored", f"see {dataset}/meta.json")
    caption_of = dict(zip(works["key"].astype(str), works["caption"].astype(str).str.strip()))
    index_dir = build_index(dataset, out / "index")
    dup = {k: s.duplicate for k in keys if s.duplicate > 1}
    frames, arms_meta = [], {}
    for arm in ARMS:
        excl = (s.artist,) if arm == "without_artist" else ()
        res = measure.train_model(dataset, out / arm / "model", duplicates=dup if not excl else {},
                                  exclude_authors=excl, steps=s.steps, minutes=s.minutes, seed=s.seed,
                                  preset=s.preset, clip=s.clip, batch=s.batch)
        arms_meta[arm] = measure.arm_record(res, out / arm / "model")
        excluded = arms_meta[arm]["excluded_keys"]
        if excl and sorted(excluded) != sorted(keys):
            raise InputError(f"excluding {s.artist!r} dropped {len(excluded)} item(s), expected {len(keys)}",
                             "the artist's name must match the manifest's author column")
        df, _ = measure.sample_and_scan(out / arm / "model", [caption_of[k] for k in keys], out / arm, n=s.n,
                                        seed=s.seed, sample_steps=s.sample_steps, index_dir=index_dir,
                                        baseline_sample=s.baseline_sample)
        df["item_key"] = [keys[i] for i in df["prompt_index"]]
        df["arm"] = arm
        frames.append(measure.add_item_scores(df, dataset, index_dir))
    df = pd.concat(frames, ignore_index=True)
    df["artist_match"] = (df["verdict"] != "novel") & df["match_key"].astype("string").isin(keys).fillna(False)
    df["artist_match"] = df["artist_match"].astype(bool)
    table = summarise(df)
    df.drop(columns=["abs_path"]).to_parquet(out / "samples_scored.parquet", index=False)
    table.to_parquet(out / "results.parquet", index=False)
    summary = {"experiment": "optout", "artist": s.artist, "works": keys, "n": s.n, "arms": arms_meta,
               "duplicate_in_with_arm": s.duplicate, "results": table.to_dict(orient="records"),
               "seconds": round(time.monotonic() - t0, 1)}
    write_json(out / "summary.json", summary)
    write_text(out / "report.html", render(table, summary))
    write_meta(out, make_meta("experiment-optout", settings=s.__dict__, works=keys, arms=arms_meta,
                              index_dir=str(index_dir), seed=s.seed))
    return summary


def render(table: pd.DataFrame, summary: dict) -> str:
    arms = list(table["arm"])
    plots = [measure.plot_png_b64(arms, {"copy rate": table["copy_rate"],
                                         "flagged as the artist's work": table["artist_match_rate"],
                                         "median best SSIM": table["median_best_ssim"],
                                         "median best CLIP cosine": table["median_best_clip_cosine"],
                                         "median best RMS (0 = identical)": table["median_best_rms"]},
                                  xlabel="generator", ylabel="value", title=f"Opt-out of {summary['artist']}",
                                  bars=True)]
    intro = (f"Captions of {len(summary['works'])} work(s) by {summary['artist']}, each sampled {summary['n']}× from "
             f"a generator trained with the works (×{summary['duplicate_in_with_arm']}) and one trained without them.")
    notes = [f"{a}: {m['train_steps']} steps, excluded {len(m['excluded_keys'])} item(s)" for a, m in summary["arms"].items()]
    return measure.html_page("Opt-out experiment", intro, table, plots, notes + [
        "rms / CLIP cosine compare each sample with the work whose caption produced it; the scan's index holds "
        "the works in both cases."])

"""Erasure experiment: do a subject's captions still bring back its images once its items are erased
(left out of training by key)?

Both generators share the dataset (minus the erased keys in "after"), seed, budget and sampler.
`duplicates` ({key: N}) repeats items N times per epoch, so that "before" can model a subject whose photo
appears many times on the web (what makes a small generator memorise it); "after" keeps the factors of
items it still holds and drops those of erased items (they are not in its training set at all). Both
sample sets are scanned against an index of the erased items' images *only* (a temporary copy of them,
deleted at the end), so every flag is a flag for the erased subject and nothing else.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from audit.atomic import write_json, write_text
from audit.errors import InputError
from audit.experiments import measure
from audit.experiments.measure import RunSettings
from audit.experiments.trainset import build_experiment_set, real_keys_in, rows_for_keys
from audit.index import build_index
from audit.meta import make_meta, write_meta

ARMS = ("before", "after")


@dataclass(frozen=True, kw_only=True)
class ErasureSettings(RunSettings):
    dataset: str
    keys: tuple[str, ...]
    prompts: tuple[str, ...]
    duplicates: dict[str, int] = field(default_factory=dict)


def summarise(df: pd.DataFrame) -> pd.DataFrame:
    """One row per arm: copy rate (a copy of an erased item), best RMS to the erased items, verdict counts."""
    per_arm = df.groupby("arm").agg(samples=("path", "size"), copy_rate=("copy_of_erased", "mean"),
                                    best_rms=("rms", "min"), median_rms=("rms", "median"),
                                    mean_clip_cosine=("clip_cosine", "mean"), mean_scan_score=("score", "mean"))
    counts = pd.crosstab(df["arm"], df["verdict"]).add_prefix("verdict_")
    out = per_arm.join(counts).reindex(list(ARMS)).fillna({c: 0 for c in counts.columns}).reset_index()
    for c in counts.columns:
        out[c] = out[c].astype(int)
    return out


def run_erasure(s: ErasureSettings) -> dict:
    """Train before/after, sample the prompts, scan against the erased items; returns summary.json's content."""
    measure.check_budget(s.steps, s.minutes)
    keys = list(dict.fromkeys(str(k) for k in s.keys))
    if not keys or not s.prompts:
        raise InputError("give at least one --keys KEY and one --prompt TEXT", "the prompts are the subject's captions")
    if s.n < 1:
        raise InputError("--n must be at least 1")
    rows = rows_for_keys(s.dataset, keys)  # unknown key: one-line error before any training
    dup = {str(k): int(v) for k, v in s.duplicates.items()}
    if any(v < 1 for v in dup.values()):
        raise InputError("--duplicate factors must be at least 1", "e.g. --duplicate KEY=50")
    if dup:
        rows_for_keys(s.dataset, list(dup))  # the same check for duplicated keys
    arm_dup = {"before": dup, "after": {k: v for k, v in dup.items() if k not in keys}}
    out = Path(s.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix=".erased-", dir=out))
    try:
        erased = build_experiment_set(tmp / "dataset", rows, 0, s.seed, s.dataset)
        if len(real_keys_in(erased, keys)) != len(keys):
            raise InputError("some of the erased items could not be copied", f"see {erased}/meta.json")
        index_dir = build_index(erased, out / "index")
        frames, arms_meta = [], {}
        for arm in ARMS:
            excl = tuple(keys) if arm == "after" else ()
            res = measure.train_model(Path(s.dataset), out / arm / "model", duplicates=arm_dup[arm],
                                      exclude_keys=excl, steps=s.steps, minutes=s.minutes, seed=s.seed,
                                      preset=s.preset, clip=s.clip, batch=s.batch)
            arms_meta[arm] = measure.arm_record(res, out / arm / "model")
            df, _ = measure.sample_and_scan(out / arm / "model", list(s.prompts), out / arm, n=s.n, seed=s.seed,
                                            sample_steps=s.sample_steps, index_dir=index_dir,
                                            baseline_sample=s.baseline_sample)
            df["item_key"] = measure.nearest_items(list(df["abs_path"]), erased, keys)
            df["arm"] = arm
            frames.append(measure.add_item_scores(df, erased, index_dir))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    df = pd.concat(frames, ignore_index=True)
    df["copy_of_erased"] = ((df["verdict"] == "copy") & df["match_key"].astype("string").isin(keys)).fillna(False)
    df["copy_of_erased"] = df["copy_of_erased"].astype(bool)
    table = summarise(df)
    df.drop(columns=["abs_path"]).to_parquet(out / "samples_scored.parquet", index=False)
    table.to_parquet(out / "results.parquet", index=False)
    summary = {"experiment": "erasure", "dataset": str(Path(s.dataset).resolve()), "keys": keys,
               "duplicates": arm_dup, "prompts": list(s.prompts), "n": s.n, "arms": arms_meta,
               "results": table.to_dict(orient="records"), "seconds": round(time.monotonic() - t0, 1)}
    write_json(out / "summary.json", summary)
    write_text(out / "report.html", render(table, summary))
    write_meta(out, make_meta("experiment-erasure", settings=s.__dict__, keys=keys, duplicates=arm_dup,
                              arms=arms_meta, index_dir=str(index_dir),
                              index_holds="erased items only (temporary copy, deleted)",
                              seed=s.seed))
    return summary


def render(table: pd.DataFrame, summary: dict) -> str:
    arms = list(table["arm"])
    plots = [measure.plot_png_b64(arms, {"copy rate": table["copy_rate"], "best RMS (0 = identical)": table["best_rms"],
                                         "median RMS": table["median_rms"]},
                                  xlabel="generator", ylabel="value", title="Erasure", bars=True)]
    intro = (f"{len(summary['prompts'])} prompt(s), each sampled {summary['n']}× from a generator trained on the "
             f"full dataset (before) and one trained without {len(summary['keys'])} erased item(s) (after).")
    notes = [f"{a}: {m['train_steps']} steps, excluded {len(m['excluded_keys'])} item(s), duplicated "
             + (", ".join(f"{k} ×{v}" for k, v in m["duplication"].items()) or "nothing")
             for a, m in summary["arms"].items()]
    return measure.html_page("Erasure experiment", intro, table, plots, notes + [
        "the scan's index holds only the erased items; rms / CLIP cosine compare each sample with the nearest "
        "erased item."])

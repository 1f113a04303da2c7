"""Shared experiment steps: train, sample the items' captions, index, scan, and per-sample scores.

Per-sample scores tie each generation to the item whose caption produced it:
  verdict/match_key from the memorisation scan (copy of *that* item = `copy_of_item`),
  RMS pixel distance and SSIM to that item at the training resolution (audit.generate.measure),
  CLIP cosine to that item (the index's embedder, so the same model the scan used).
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from PIL import Image

from audit.errors import InputError
from audit.generate.measure import image_distances
from audit.generate.sample import sample_to_dir
from audit.generate.samples_layout import read_samples_table
from audit.images import load_rgb
from audit.index import open_index
from audit.meta import read_meta, weights_sha256


@dataclass(frozen=True, kw_only=True)
class RunSettings:
    """Training and sampling budget shared by every experiment (each adds its own inputs)."""

    out: str
    steps: int | None = None
    minutes: float | None = None
    seed: int = 0
    n: int = 4
    sample_steps: int = 25
    preset: str = "small"
    batch: int = 32
    clip: str | None = None
    baseline_sample: int = 50


def check_budget(steps: int | None, minutes: float | None) -> None:
    """Every experiment needs a training budget."""
    if steps is None and minutes is None:
        raise InputError("give --steps N or --minutes M", "e.g. --steps 3000")


def train_model(dataset: Path, out: Path, *, duplicates: dict[str, int], exclude_authors: Sequence[str] = (),
                exclude_keys: Sequence[str] = (), steps: int | None, minutes: float | None, seed: int, preset: str, clip: str | None,
                batch: int = 32):
    """One generator run (resumes if `out` holds an unfinished one with the same settings)."""
    from audit.generate.train import GeneratorTrainSettings, train

    return train(GeneratorTrainSettings(datasets=(str(dataset),), out=str(out), duplicates=dict(duplicates),
                               exclude_authors=tuple(exclude_authors), exclude_keys=tuple(exclude_keys),
                               steps=steps, minutes=minutes, resolution=32,
                               seed=seed, batch=batch, preset=preset, clip=clip, save_every=max(50, (steps or 200) // 4)))


def arm_record(res, model_dir: Path) -> dict:
    """What a summary states about one trained arm (from its GeneratorTrainResult and model meta.json)."""
    mm = read_meta(model_dir)
    return {"train_steps": res.step, "train_seconds": round(res.seconds, 1),
            "excluded_keys": mm["training"]["excluded_keys"], "duplication": mm["training"]["duplication"],
            "weights_sha256": weights_sha256(mm), "train_command": mm["training"]["train_command"]}


def sample_and_scan(model: Path, prompts: list[str], work: Path, *, n: int, seed: int, sample_steps: int,
                    index_dir: Path, baseline_sample: int) -> tuple[pd.DataFrame, dict]:
    """Sample every prompt n times into work/samples, scan them into work/scan; samples joined with matches."""
    from audit.memorisation.run import scan_folder

    samples_dir, scan_dir = work / "samples", work / "scan"
    sample_to_dir(model, prompts, samples_dir, n=n, seed=seed, steps=sample_steps)
    summary = scan_folder(samples_dir, index_dir, scan_dir, overwrite=True, baseline_sample=baseline_sample,
                          workers=1, seed=seed)
    samples = read_samples_table(samples_dir)
    matches = pd.read_parquet(scan_dir / "matches.parquet")
    matches["path"] = [Path(str(p)).name for p in matches["query_path"]]
    cols = ["path", "verdict", "match_key", "score", "tiled_l2", "reasons"]
    df = samples.merge(matches[cols], on="path", how="left", validate="one_to_one")
    if df["verdict"].isna().any():
        raise InputError(f"{scan_dir}: the scan skipped {int(df['verdict'].isna().sum())} sample(s)",
                         "see skipped in its summary.json")
    df["abs_path"] = [str(samples_dir / p) for p in df["path"]]
    return df, summary


def item_pixels(dataset: Path, keys: Sequence[str]) -> dict[str, np.ndarray]:
    """Training pixels (32 px, uint8 HxWx3) of `keys`, exactly as the generator saw them."""
    from audit.generate.data import square_pixels
    from audit.records import read_manifest, resolve_paths

    df = read_manifest(dataset)
    paths = dict(zip(df["key"].astype(str), resolve_paths(df, dataset)))
    out = {}
    for k in keys:
        arr = square_pixels(load_rgb(paths[k]), 32)
        out[k] = np.round((arr.transpose(1, 2, 0) + 1) * 127.5).clip(0, 255).astype(np.uint8)
    return out


def nearest_items(paths: Sequence[str], dataset: Path, keys: Sequence[str]) -> list[str]:
    """For each generated image, the item of `keys` closest in pixels (RMS at 32 px)."""
    pix = item_pixels(dataset, keys)
    out = []
    for path in paths:
        gen = np.asarray(Image.open(path).convert("RGB").resize((32, 32), Image.Resampling.BICUBIC))
        out.append(min(keys, key=lambda k: image_distances(gen, pix[k])[0]))
    return out


def add_item_scores(df: pd.DataFrame, dataset: Path, index_dir: Path) -> pd.DataFrame:
    """Add copy_of_item, rms, ssim, clip_cosine (to the sample's own item, column `item_key`)."""
    from audit.records import read_manifest, resolve_paths

    keys = list(dict.fromkeys(df["item_key"]))
    pix = item_pixels(dataset, keys)
    rms, ssim = [], []
    for path, key in zip(df["abs_path"], df["item_key"]):
        gen = np.asarray(Image.open(path).convert("RGB").resize((32, 32), Image.Resampling.BICUBIC))
        r, s = image_distances(gen, pix[key])
        rms.append(r)
        ssim.append(s)
    out = df.copy()
    out["rms"], out["ssim"] = rms, ssim
    out["copy_of_item"] = (out["verdict"] == "copy") & (out["match_key"].astype("string") == out["item_key"])
    out["copy_of_item"] = out["copy_of_item"].fillna(False).astype(bool)
    emb = open_index(index_dir).embedder
    man = read_manifest(dataset)
    paths = dict(zip(man["key"].astype(str), resolve_paths(man, dataset)))
    item_vec = dict(zip(keys, emb.embed_images([load_rgb(paths[k]) for k in keys], progress=False)))
    gen_vec = emb.embed_images([load_rgb(p) for p in out["abs_path"]], progress=False)
    out["clip_cosine"] = [float(np.dot(v, item_vec[k])) for v, k in zip(gen_vec, out["item_key"])]
    return out


def plot_png_b64(x: Sequence, series: dict[str, Sequence[float]], *, xlabel: str, ylabel: str, title: str,
                 logx: bool = False, bars: bool = False) -> str:
    """A small matplotlib chart as base64 PNG (Agg backend, no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.4), dpi=100)
    if bars:
        width = 0.8 / max(len(series), 1)
        pos = np.arange(len(x))
        for i, (name, ys) in enumerate(series.items()):
            ax.bar(pos + i * width, ys, width, label=name)
        ax.set_xticks(pos + width * (len(series) - 1) / 2, [str(v) for v in x])
    else:
        for name, ys in series.items():
            ax.plot(list(x), list(ys), marker="o", label=name)
        if logx:
            ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def html_page(title: str, intro: str, table: pd.DataFrame, plots: Sequence[str], notes: Sequence[str]) -> str:
    """Self-contained report: intro, results table, embedded plots, notes (all text escaped)."""
    imgs = "".join(f'<img alt="plot" src="data:image/png;base64,{p}">' for p in plots)
    li = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:.3em .6em;text-align:right}</style></head><body>"
            f"<h1>{html.escape(title)}</h1><p>{html.escape(intro)}</p>"
            f"{table.to_html(index=False, float_format=lambda v: f'{v:.3f}')}{imgs}<ul>{li}</ul></body></html>")

"""Experiment training sets: synthetic shapes plus chosen real items, written as one dataset dir.

One dataset dir (not two) so the same manifest feeds training, the search index and the scan.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from audit.errors import InputError
from audit.images import load_rgb
from audit.records import read_manifest, resolve_paths

#: Stored side of every training image: twice the 32 px training resolution keeps the index useful.
STORE_SIDE = 64


def pick_real_items(base: str | Path, n: int, seed: int, *, author: str | None = None,
                    exclude_author: str | None = None) -> pd.DataFrame:
    """n items of `base` with a caption no other item shares (sampling a caption must target one item),
    near-square (centre crops keep the picture), chosen reproducibly by seed; `author` restricts to one author."""
    df = read_manifest(base)
    df["abs_path"] = [str(p) for p in resolve_paths(df, Path(base))]
    cap = df["caption"].fillna("").astype(str).str.strip()
    ok = (cap != "") & ~cap.duplicated(keep=False)
    w, h = pd.to_numeric(df["width"]).astype(float), pd.to_numeric(df["height"]).astype(float)
    ok &= (np.minimum(w, h) / np.maximum(w, h).clip(lower=1)) >= 0.75
    authors = df["author"].fillna("").astype(str).str.strip().str.casefold()
    if author is not None:
        ok &= authors == author.strip().casefold()
    if exclude_author is not None:
        ok &= authors != exclude_author.strip().casefold()
    pool = df[ok.fillna(False)].reset_index(drop=True)
    if len(pool) < n:
        who = f" by {author!r}" if author else ""
        raise InputError(f"{base}: only {len(pool)} usable item(s){who} (unique caption, near-square), need {n}",
                         "ask for fewer items or use a larger --base-dataset")
    pick = np.random.default_rng(seed).choice(len(pool), size=n, replace=False)
    return pool.iloc[sorted(pick)].reset_index(drop=True)


def rows_for_keys(base: str | Path, keys: Sequence[str]) -> pd.DataFrame:
    """The manifest rows of `keys` in `base` (with `abs_path`), in the given order; unknown keys are an error."""
    df = read_manifest(base)
    df["abs_path"] = [str(p) for p in resolve_paths(df, Path(base))]
    df["key"] = df["key"].astype(str)
    missing = [k for k in keys if k not in set(df["key"])]
    if missing:
        raise InputError(f"{base}: key(s) not in the dataset: {', '.join(missing[:5])}",
                         "check the keys in its manifest.parquet")
    return df.set_index("key", drop=False).loc[list(keys)].reset_index(drop=True)


def build_experiment_set(out: str | Path, real: pd.DataFrame, synthetic: int, seed: int,
                         base: str | Path) -> Path:
    """Write `synthetic` shapes (audit.dataset.synthetic) + the `real` rows into dataset dir `out`.

    Idempotent: an up-to-date dir (same inputs sha256) is left alone.
    """
    from audit.dataset.store import check_out_dir, inputs_sha256, up_to_date, write_dataset
    from audit.dataset.synthetic import AUTHOR, COLORS, LICENSE, caption, draw_shape, sample_specs

    out = Path(out)
    if synthetic < 0:
        raise InputError(f"synthetic count {synthetic} must be ≥ 0")
    inputs = {"kind": "experiment-set", "synthetic": synthetic, "seed": seed, "base": str(Path(base).resolve()),
              "real": [f"{k}:{s}" for k, s in zip(real["key"].astype(str), real["sha256"].fillna("").astype(str))]}
    fp = inputs_sha256(inputs)
    check_out_dir(out)
    if up_to_date(out, fp):
        return out

    def fill(w) -> dict:
        for spec in sample_specs(synthetic, seed, STORE_SIDE) if synthetic else []:
            img = draw_shape(STORE_SIDE, spec["shape"], COLORS[spec["color"]], COLORS[spec["background"]],
                             spec["cx"], spec["cy"], spec["radius"])
            cap = caption(spec["shape"], spec["color"], spec["background"], spec["position"], spec["size"])
            w.add(spec["key"], img, caption=cap, author=AUTHOR, license=LICENSE,
                  source=f"synthetic:seed={seed}:{spec['key']}")
        for row in real.itertuples(index=False):
            w.add(str(row.key), load_rgb(row.abs_path), caption=str(row.caption).strip(), author=row.author,
                  license=row.license, source=str(row.source), url=row.url)
        return {}

    write_dataset(out, fp, fill, max_side=STORE_SIDE, image_format="png", keep_duplicates=True,
                  dataset="experiment", seed=seed, inputs=inputs,
                  sources=[{"generator": "audit.dataset.synthetic", "license": LICENSE},
                           {"dataset": str(Path(base).resolve()), "keys": list(real["key"].astype(str))}])
    return out


def real_keys_in(dataset: str | Path, keys: Sequence[str]) -> list[str]:
    """Which of `keys` the written dataset holds (DatasetWriter may rename or skip unreadable ones)."""
    have = set(read_manifest(dataset)["key"].astype(str))
    return [k for k in keys if k in have]

"""Run a check over a manifest file and write results; write the compliant (filtered) dataset.

`check` writes matches.parquet (+ `<stem>.problems.parquet` and `<stem>.meta.json` beside it);
`filter` writes a dataset dir (manifest.parquet with absolute image paths, excluded.parquet with
reasons, meta.json). Both record the manifest and registry hashes so a result can be traced.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from audit import config
from audit.atomic import atomic_dir, atomic_path, write_json
from audit.errors import InputError
from audit.meta import make_meta, write_meta
from audit.optout.match import CheckResult, _finish, check_manifest
from audit.optout.registry import open_registry
from audit.records import manifest_hash, manifest_path, read_manifest, resolve_paths, write_manifest

#: Purpose -> registry scopes that forbid it.
COVERS = {
    "ai-training": {"all", "all-tdm", "ai-training", "ml", "genai-training", "ai-training-images"},
    "tdm": {"all", "all-tdm"},
    "search": {"all", "search"},
}


def _write_parquet(df: pd.DataFrame, dest: Path) -> None:
    with atomic_path(dest, ".parquet") as tmp:
        pq.write_table(pa.Table.from_pandas(df.astype({c: "object" for c in df.columns if df[c].dtype == "object"}),
                                            preserve_index=False), tmp)


def embedded_matches(manifest: pd.DataFrame, dataset_dir: Path) -> pd.DataFrame:
    """XMP / C2PA reservations inside the image files themselves (reads each file: opt-in, I/O-bound)."""
    from audit.optout.embedded import image_signals
    from audit.progress import track

    rows = []
    paths = resolve_paths(manifest, dataset_dir)
    for (key, url), p in track(zip(zip(manifest["key"].astype(str), manifest["url"]), paths), "embedded signals", total=len(paths)):
        if not p.is_file():
            continue
        for s in image_signals(p):
            if s.restricts:
                rows.append({"key": key, "url": url, "id": -1, "display": s.kind, "scope": s.scope, "source": "embedded",
                             "matched": s.evidence, "reason": f"{s.kind} in the image file: {s.directive}"})
    if not rows:
        return pd.DataFrame()
    df = pd.DataFrame(rows)
    return _finish(df, "signal", "image", df["reason"])


def clip_matches(manifest: pd.DataFrame, registry: pd.DataFrame, index_dir: Path, min_score: float) -> pd.DataFrame:
    """Example images registered with a CLIP embedding vs the index: training items at cosine >= min_score."""
    ex = registry[(registry["kind"] == "image") & registry["embedding"].notna()] if "embedding" in registry else registry.iloc[:0]
    if not len(ex):
        return pd.DataFrame()
    from audit.index import open_index

    idx = open_index(index_dir)
    model = idx.meta.get("model") or idx.meta.get("model_name")
    ex = ex[ex["embed_model"] == model] if model else ex
    if not len(ex):
        return pd.DataFrame()
    vecs = np.stack([np.frombuffer(b, dtype=np.float32) for b in ex["embedding"]])
    scores, ids = idx.search_vectors(vecs, min(50, idx.count))
    keys = set(manifest["key"].astype(str))
    rows = []
    for (_, e), srow, irow in zip(ex.iterrows(), scores, ids):
        for sc, i in zip(srow, irow):
            if i < 0 or sc < min_score:
                continue
            r = idx.row(int(i))
            if str(r["key"]) in keys:
                rows.append({**e.to_dict(), "key": str(r["key"]), "url": r.get("url"), "matched": f"{sc:.3f}",
                             "distance": float(1 - sc),
                             "reason": f"CLIP cosine {sc:.3f} ≥ {min_score} to example image of {e['artist'] or e['display'][:12]}"})
    if not rows:
        return pd.DataFrame()
    df = pd.DataFrame(rows)
    return _finish(df, "clip", "image", df["reason"])


def run_check(manifest: str | Path, registry: str | Path, out: str | Path, *, index: str | Path | None = None,
              scan_images: bool = False, max_distance: int = config.PHASH_NEAR_DUPLICATE,
              min_clip: float = config.CLIP_DUPLICATE_COSINE) -> CheckResult:
    mpath = manifest_path(manifest)
    df = read_manifest(mpath)
    with open_registry(registry) as reg:
        reg_df = reg.frame(with_embeddings=True)
        reg_hash = reg.content_hash()
    res = check_manifest(df, reg_df, max_distance=max_distance)
    extra = []
    if scan_images:
        extra.append(embedded_matches(df, mpath.parent))
    if index is not None:
        extra.append(clip_matches(df, reg_df, Path(index), min_clip))
    extra = [e for e in extra if len(e)]
    if extra:
        m = pd.concat([res.matches, *extra], ignore_index=True).sort_values(["key", "rule"], kind="stable").reset_index(drop=True)
        counts = {**res.counts, **{f"rule_{k}": int(v) for k, v in m["rule"].value_counts().items()},
                  "rows_covered": int(m["key"].nunique())}
        res = CheckResult(m, res.problems, res.rows_checked, counts)
    out = Path(out)
    if out.suffix != ".parquet":
        raise InputError(f"--out {out} should end in .parquet")
    _write_parquet(res.matches, out)
    _write_parquet(res.problems, out.with_name(out.stem + ".problems.parquet"))
    write_json(out.with_name(out.stem + ".meta.json"), make_meta(
        "optout-check", manifest=str(mpath), manifest_hash=manifest_hash(df), registry=str(registry),
        registry_hash=reg_hash, index=str(index) if index else None, phash_max_distance=max_distance,
        rows_checked=res.rows_checked, counts=res.counts))
    return res


def filter_dataset(manifest: str | Path, registry: str | Path, out_dir: str | Path, *, purpose: str = "ai-training",
                   scan_images: bool = False, max_distance: int = config.PHASH_NEAR_DUPLICATE) -> tuple[int, int]:
    """Write the compliant dataset (rows no opt-out covers for `purpose`) + excluded.parquet. Returns (kept, excluded)."""
    if purpose not in COVERS:
        raise InputError(f"unknown purpose '{purpose}'", f"use one of {', '.join(COVERS)}")
    mpath = manifest_path(manifest)
    df = read_manifest(mpath)
    with open_registry(registry) as reg:
        reg_df = reg.frame()
        reg_hash = reg.content_hash()
    res = check_manifest(df, reg_df, max_distance=max_distance)
    matches = res.matches
    if scan_images:
        emb = embedded_matches(df, mpath.parent)
        matches = pd.concat([matches, emb], ignore_index=True) if len(emb) else matches
    binding = matches[matches["scope"].isin(COVERS[purpose])]
    reasons = binding.groupby("key", sort=True)["reason"].agg(lambda r: " | ".join(dict.fromkeys(r)))
    rules = binding.groupby("key", sort=True)["rule"].agg(lambda r: ",".join(sorted(set(r))))
    excluded_mask = df["key"].astype(str).isin(reasons.index)
    kept = df[~excluded_mask].copy()
    kept["path"] = [str(p.resolve()) for p in resolve_paths(kept, mpath.parent)] if len(kept) else kept["path"]
    excl = pd.DataFrame({"key": reasons.index, "rules": rules.reindex(reasons.index).to_numpy(), "reasons": reasons.to_numpy()})
    excl = excl.merge(df[["key", "url"]].astype({"key": str}), on="key", how="left")[["key", "url", "rules", "reasons"]]
    with atomic_dir(out_dir) as tmp:
        write_manifest(kept, tmp)
        _write_parquet(excl, tmp / "excluded.parquet")
        write_meta(tmp, make_meta(
            "dataset", derived_from=str(mpath), source_manifest_hash=manifest_hash(df), registry=str(registry),
            registry_hash=reg_hash, purpose=purpose, kept=len(kept), excluded=len(excl),
            note="image paths are absolute references into the source dataset", skipped=[],
            malformed_urls=res.problems.head(100).to_dict("records")))
    return len(kept), len(excl)

"""Run a check over a manifest file and write results; write the compliant (filtered) dataset.

`check` writes matches.parquet (+ `<stem>.problems.parquet` and `<stem>.meta.json` beside it);
`filter` writes a dataset dir (manifest.parquet with absolute image paths, excluded.parquet with
reasons, meta.json). Both record the manifest and registry hashes so a result can be traced.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from audit import config
from audit.atomic import atomic_dir, write_json, write_parquet
from audit.errors import InputError
from audit.index import open_index
from audit.meta import make_meta, weights_sha256, write_meta
from audit.optout.embedded import image_signals
from audit.optout.match import CheckResult, _finish, check_manifest
from audit.optout.registry import open_registry
from audit.optout.verdict import check_use, decide
from audit.progress import track
from audit.records import manifest_hash, manifest_path, read_manifest, resolve_paths, write_manifest

#: Purpose (a use, or a legacy purpose name) -> registry scopes that forbid it.
COVERS = {
    "train": {"all", "all-tdm", "ai-training", "ml", "genai-training", "ai-training-images"},
    "ai-input": {"all", "all-tdm", "ai-input"},
    "search": {"all", "search"},
    "tdm": {"all", "all-tdm"},
}
COVERS["ai-training"] = COVERS["train"]  # the old name of the training purpose
UNKNOWN_COLUMNS = ["key", "url", "source", "reason"]


class FilterCounts(tuple[int, int]):
    """(kept, excluded) — unpacks as it always did — plus `.unknown`: rows whose answer is unknown (unknown.parquet)."""

    unknown: int

    def __new__(cls, kept: int, excluded: int, unknown: int) -> "FilterCounts":
        t = super().__new__(cls, (kept, excluded))
        t.unknown = unknown
        return t


def embedded_matches(manifest: pd.DataFrame, dataset_dir: Path, use: str = "train") -> tuple[pd.DataFrame, pd.DataFrame]:
    """XMP / C2PA reservations of `use` inside the image files themselves (reads each file: opt-in, I/O-bound).

    Returns (matches, unknown): a file that is missing, or whose metadata cannot be read in full, gives an
    unknown row with the reason — never silently "no reservation"."""
    rows, unknown = [], []
    paths = resolve_paths(manifest, dataset_dir)
    for (key, url), p in track(zip(zip(manifest["key"].astype(str), manifest["url"]), paths), "embedded signals", total=len(paths)):
        if not p.is_file():
            unknown.append({"key": key, "url": url, "source": "embedded", "reason": f"unknown: could not read image file {p}"})
            continue
        v = decide(image_signals(p), use=use)
        if v.is_unknown:
            unknown.append({"key": key, "url": url, "source": "embedded", "reason": v.reason})
        for s in v.binding:
            rows.append({"key": key, "url": url, "id": -1, "display": s.kind, "scope": s.scope, "source": "embedded",
                         "matched": s.evidence, "reason": f"{s.kind} in the image file: {s.directive}"})
    unknown_df = pd.DataFrame(unknown, columns=UNKNOWN_COLUMNS)
    if not rows:
        return pd.DataFrame(), unknown_df
    df = pd.DataFrame(rows)
    return _finish(df, "signal", "image", df["reason"]), unknown_df


def unknown_rows(res: CheckResult, extra_unknown: list[pd.DataFrame], covered: set[str]) -> pd.DataFrame:
    """Rows with no reservation found but an answer that is unknown (malformed URL, unreadable image metadata),
    one row per key with every reason; rows a known reservation covers are not unknown."""
    probs = res.problems
    parts = [pd.DataFrame({"key": probs["key"].astype(str), "url": probs["url"], "source": "url",
                           "reason": "unknown: URL rules could not be checked: " + probs["problem"].astype(str)})] if len(probs) else []
    parts += [u for u in extra_unknown if len(u)]
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in UNKNOWN_COLUMNS})
    u = pd.concat(parts, ignore_index=True).astype({"key": str})
    u = u[~u["key"].isin(covered)]
    return (u.groupby("key", sort=True)
            .agg(url=("url", "first"), source=("source", lambda x: ",".join(dict.fromkeys(x))),
                 reason=("reason", lambda x: " | ".join(dict.fromkeys(x))))
            .reset_index()[UNKNOWN_COLUMNS])


def _same_model(embed_model: object, name: str | None, weights: str | None) -> bool:
    """Was an example embedded with the index's model? `name#weights_sha256[:16]` entries compare weights too
    (a retrained checkpoint keeps its name but its embeddings are not comparable)."""
    if not isinstance(embed_model, str) or not name:
        return False
    ename, _, prefix = embed_model.partition("#")
    return ename == name and (not prefix or not weights or str(weights).startswith(prefix))


def clip_matches(manifest: pd.DataFrame, registry: pd.DataFrame, index_dir: Path, min_score: float) -> pd.DataFrame:
    """Example images registered with a CLIP embedding vs the index: training items at cosine >= min_score.

    Every neighbour above the threshold is returned (k grows until the k-th score drops below it), and
    example images that cannot be compared (no embedding, another model) are an error naming the fix
    when none is usable, rather than a silent empty result."""
    ex = registry[registry["kind"] == "image"] if "kind" in registry else registry.iloc[:0]
    if not len(ex):
        return pd.DataFrame()
    from audit.optout.lookup import neighbours_above

    idx = open_index(index_dir)
    model, weights = idx.meta.get("model") or idx.meta.get("model_name"), weights_sha256(idx.meta)
    has = ex["embedding"].notna() if "embedding" in ex else pd.Series(False, index=ex.index)
    usable = ex[has & ex["embed_model"].map(lambda m: _same_model(m, model, weights))]
    if not len(usable):
        got = sorted({str(m).partition("#")[0] for m in ex.loc[has, "embed_model"]}) or ["none"]
        raise InputError(
            f"none of the {len(ex)} example image(s) in the registry has a CLIP embedding from model {model}, "
            f"which built index {index_dir} (their models: {', '.join(got)})",
            f"re-add them with `audit optout add image FILE --model {model} --registry ...`, "
            "or pass an index built with their model")
    vecs = np.stack([np.frombuffer(b, dtype=np.float32) for b in usable["embedding"]])
    if vecs.shape[1] != idx.dim:
        raise InputError(f"registry embeddings have {vecs.shape[1]} dimensions, index {index_dir} has {idx.dim}",
                         "re-add the example images with the index's --model")
    scores, ids = neighbours_above(idx, vecs, min_score, cap=idx.count)  # every item above it, not a top-k
    q, j = np.nonzero(ids >= 0)
    if not len(q):
        return pd.DataFrame()
    found = idx.rows(ids[q, j])
    hits = usable.iloc[q].drop(columns=["embedding"]).reset_index(drop=True)
    hits["key"] = found["key"].astype(str).to_numpy()
    sc = scores[q, j].astype(float)
    hits["matched"] = [f"{x:.3f}" for x in sc]
    hits["distance"] = 1.0 - sc
    urls = pd.Series(manifest["url"].to_numpy(), index=manifest["key"].astype(str).to_numpy())
    hits = hits[hits["key"].isin(urls.index)].reset_index(drop=True)  # items of the manifest being checked only
    if not len(hits):
        return pd.DataFrame()
    hits["url"] = urls[~urls.index.duplicated()].reindex(hits["key"]).to_numpy()
    whose = hits["artist"].where(hits["artist"].notna() & (hits["artist"].astype(str) != ""), hits["display"].str.slice(0, 12))
    reason = ("CLIP cosine " + hits["matched"] + f" ≥ {min_score} (distance " + hits["distance"].map("{:.3f}".format)
              + ") to example image of " + whose.astype(str))
    return _finish(hits, "clip", "image", reason)


def _extra_matches(df: pd.DataFrame, dataset_dir: Path, reg_df: pd.DataFrame, use: str, scan_images: bool,
                   index: str | Path | None, min_clip: float) -> tuple[list[pd.DataFrame], list[pd.DataFrame]]:
    """Matches beyond the registry's own rules (embedded signals, CLIP re-hosts; non-empty frames only), and the
    rows whose embedded signals could not be read."""
    extra: list[pd.DataFrame] = []
    unknown: list[pd.DataFrame] = []
    if scan_images:
        found, unknown_emb = embedded_matches(df, dataset_dir, use)
        extra.append(found)
        unknown.append(unknown_emb)
    if index is not None:
        extra.append(clip_matches(df, reg_df, Path(index), min_clip))
    return [e for e in extra if len(e)], unknown


def run_check(manifest: str | Path, registry: str | Path, out: str | Path, *, index: str | Path | None = None,
              scan_images: bool = False, max_distance: int = config.PHASH_NEAR_DUPLICATE,
              min_clip: float = config.CLIP_DUPLICATE_COSINE, use: str = "train") -> CheckResult:
    """Every row an opt-out covers (matches.parquet), and beside it `<stem>.unknown.parquet`: rows no reservation
    covers whose answer is nonetheless unknown (malformed URL; with scan_images, unreadable image metadata).
    `use` decides which embedded signals reserve (registry matches are listed whatever their scope)."""
    check_use(use)
    mpath = manifest_path(manifest)
    df = read_manifest(mpath)
    with open_registry(registry) as reg:
        reg_df = reg.frame(with_embeddings=True)
        reg_hash = reg.content_hash()
    res = check_manifest(df, reg_df, max_distance=max_distance)
    extra, unknown = _extra_matches(df, mpath.parent, reg_df, use, scan_images, index, min_clip)
    if extra:
        m = pd.concat([res.matches, *extra], ignore_index=True).sort_values(["key", "rule"], kind="stable").reset_index(drop=True)
        counts = {**res.counts, **{f"rule_{k}": int(v) for k, v in m["rule"].value_counts().items()},
                  "rows_covered": int(m["key"].nunique())}
        res = CheckResult(m, res.problems, res.rows_checked, counts)
    unk = unknown_rows(res, unknown, set(res.matches["key"].astype(str)))
    res = CheckResult(res.matches, res.problems, res.rows_checked, {**res.counts, "rows_unknown": len(unk)})
    out = Path(out)
    if out.suffix != ".parquet":
        raise InputError(f"--out {out} should end in .parquet")
    write_parquet(res.matches, out)
    write_parquet(res.problems, out.with_name(out.stem + ".problems.parquet"))
    write_parquet(unk, out.with_name(out.stem + ".unknown.parquet"))
    write_json(out.with_name(out.stem + ".meta.json"), make_meta(
        "optout-check", manifest=str(mpath), manifest_hash=manifest_hash(df), registry=str(registry),
        registry_hash=reg_hash, index=str(index) if index else None, phash_max_distance=max_distance,
        clip_min_cosine=min_clip if index is not None else None, use=use,
        rows_checked=res.rows_checked, counts=res.counts))
    return res


def filter_dataset(manifest: str | Path, registry: str | Path, out_dir: str | Path, *, purpose: str = "ai-training",
                   scan_images: bool = False, max_distance: int = config.PHASH_NEAR_DUPLICATE,
                   index: str | Path | None = None, min_clip: float = config.CLIP_DUPLICATE_COSINE) -> FilterCounts:
    """Write the compliant dataset: manifest.parquet holds the rows known not to be opted out for `purpose` (a use:
    train | ai-input | search, or the older ai-training | tdm); excluded.parquet the opted-out rows with reasons;
    unknown.parquet the rows whose answer is unknown, with the reason — in neither of the other two.
    Returns (kept, excluded) with `.unknown`.

    With `index`, rows CLIP-matching a registered example image (re-hosted copies) are excluded too."""
    if purpose not in COVERS:
        raise InputError(f"unknown purpose '{purpose}'", f"use one of {', '.join(COVERS)}")
    use = {"ai-training": "train", "tdm": "train"}.get(purpose, purpose)
    mpath = manifest_path(manifest)
    df = read_manifest(mpath)
    with open_registry(registry) as reg:
        reg_df = reg.frame(with_embeddings=index is not None)
        reg_hash = reg.content_hash()
    res = check_manifest(df, reg_df, max_distance=max_distance)
    matches = res.matches
    extra, unknown = _extra_matches(df, mpath.parent, reg_df, use, scan_images, index, min_clip)
    if extra:
        matches = pd.concat([matches, *extra], ignore_index=True)
    # registry entries bind by scope; embedded signals were already decided for this use
    binding = matches[matches["scope"].isin(COVERS[purpose]) | (matches["rule"] == "signal")] if len(matches) else matches
    reasons = binding.groupby("key", sort=True)["reason"].agg(lambda r: " | ".join(dict.fromkeys(r)))
    rules = binding.groupby("key", sort=True)["rule"].agg(lambda r: ",".join(sorted(set(r))))
    unk = unknown_rows(res, unknown, set(reasons.index))
    excluded_mask = df["key"].astype(str).isin(reasons.index)
    kept = df[~excluded_mask & ~df["key"].astype(str).isin(unk["key"])].copy()
    kept["path"] = [str(p.resolve()) for p in resolve_paths(kept, mpath.parent)] if len(kept) else kept["path"]
    excl = pd.DataFrame({"key": reasons.index, "rules": rules.reindex(reasons.index).to_numpy(), "reasons": reasons.to_numpy()})
    excl = excl.merge(df[["key", "url"]].astype({"key": str}), on="key", how="left")[["key", "url", "rules", "reasons"]]
    with atomic_dir(out_dir) as tmp:
        write_manifest(kept, tmp)
        write_parquet(excl, tmp / "excluded.parquet")
        write_parquet(unk, tmp / "unknown.parquet")
        write_meta(tmp, make_meta(
            "dataset", derived_from=str(mpath), source_manifest_hash=manifest_hash(df), registry=str(registry),
            registry_hash=reg_hash, purpose=purpose, kept=len(kept), excluded=len(excl), unknown=len(unk),
            index=str(index) if index is not None else None, clip_min_cosine=min_clip if index is not None else None,
            note="image paths are absolute references into the source dataset", skipped=[],
            malformed_urls=res.problems.head(100).to_dict("records")))
    return FilterCounts(len(kept), len(excl), len(unk))

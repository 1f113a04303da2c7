"""Compute a dataset card (a frozen dataclass) from a manifest or an index dir; rendering lives in render.py.

    card = build_card("data/reference", registry="optout.db", prompts=None)
    cmp = compare_cards(old_card, card)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from audit import config
from audit.card import stats as S
from audit.card.inputs import check_registry, check_requests, is_sqlite
from audit.card.prompts import LIMITS, load_prompts
from audit.errors import InputError
from audit.index import layout
from audit.index.cache import cached_index
from audit.index.hamming import near_pairs, plan_self
from audit.records import manifest_hash, manifest_path, read_manifest, resolve_paths
from audit.removal import confirmed_keys, connect, list_requests, load_tombstones

TOP_AUTHORS = 15
SHOWN_KEYS = 10
#: Rows of the opt-out / removal figures kept as {key, path} for drill-down (the app page, the HTML strips).
DRILL_ROWS = 48


@dataclass(frozen=True)
class DatasetCard:
    """What a training set holds, with unknowns counted, duplicates clustered and the method of each figure."""

    title: str
    input: str
    input_kind: str                       # "manifest" | "index"
    dataset_dir: str | None
    index_dir: str | None
    rows: int
    columns: list[str]
    manifest_hash: str
    keys: list[str]                       # for comparison mode (row identity)
    sources: list[tuple[str, int]]
    domains: list[tuple[str, int]]
    licenses: list[tuple[str, int]]          # values of the manifest's `license` column
    authors_top: list[tuple[str, int]]
    authors_total: int
    authors_tail: dict[str, int]          # {"values": n further authors, "rows": rows they cover}
    unknown: dict[str, int]               # column -> rows missing a value (shown, never dropped)
    sizes: dict[str, Any]
    formats: list[tuple[str, int]]
    captions: dict[str, Any]
    exact_duplicates: list[list[dict]]    # clusters of {key, path}, largest first
    near_duplicates: list[list[dict]]
    near_threshold: int
    duplicate_method: str
    optout: dict[str, Any] | None
    removal: dict[str, Any] | None
    concepts: list[dict] | None
    concept_note: str
    prompts: dict[str, list[str]]
    warnings: list[str] = field(default_factory=list)
    author_counts: dict[str, int] = field(default_factory=dict)
    license_counts: dict[str, int] = field(default_factory=dict)
    near_mirror: bool = True              # near duplicates include horizontally flipped copies

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class CardComparison:
    """Two cards side by side: rows added/removed (by key) and per-licence / author / source deltas."""

    old: DatasetCard
    new: DatasetCard
    added: int
    removed: int
    added_keys: list[str]
    removed_keys: list[str]
    license_deltas: list[tuple[str, int, int, int]]   # (value, old, new, new-old), changed first
    author_deltas: list[tuple[str, int, int, int]]
    source_deltas: list[tuple[str, int, int, int]]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["old"], d["new"] = self.old.title, self.new.title
        return d


def _key_list(keys: set[str] | list[str], n: int = SHOWN_KEYS) -> str:
    keys = sorted(keys)
    return ", ".join(keys[:n]) + (f" and {len(keys) - n} more" if len(keys) > n else "")


def read_key_list(path: str | Path) -> set[str]:
    """Erased keys from a plain list: one key per line (# comments), or a CSV/parquet with a `key` column."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"requests file {p} does not exist", "pass the removal DB or a text file of erased keys")
    if is_sqlite(p):
        raise InputError(f"{p} is a SQLite file", "pass it as --removal-db to `audit dataset card` (read with "
                         "audit.removal), or give a text file with one erased key per line")
    if p.suffix == ".parquet":
        df = pd.read_parquet(p)
    elif p.suffix == ".csv":
        df = pd.read_csv(p, dtype=str)
    else:
        lines = [ln.strip() for ln in p.read_text(encoding="utf-8").splitlines()]
        return {ln for ln in lines if ln and not ln.startswith("#")}
    if "key" not in df.columns:
        raise InputError(f"{p} has no 'key' column", "give one erased manifest key per row in a 'key' column")
    return set(df["key"].dropna().astype(str))


def _cluster_rows(clusters: list[list[int]], keys: list[str], paths: list[Path],
                  hashes: np.ndarray | None = None) -> list[list[dict]]:
    """Clusters as {key, path} members; with hashes, also whether a member matches the flipped first member."""
    out = []
    for c in clusters:
        flags = S.mirror_flags(hashes, c) if hashes is not None else [None] * len(c)
        out.append([{"key": keys[i], "path": str(paths[i])} | ({} if f is None else {"mirrored": bool(f)})
                    for i, f in zip(c, flags)])
    return out


def _examples(df: pd.DataFrame, keys: set[str], paths: list[Path]) -> list[dict]:
    """The first DRILL_ROWS rows (manifest order) among `keys`, as {key, path}, for drill-down."""
    pos = np.flatnonzero(df["key"].astype(str).isin(keys).to_numpy())[:DRILL_ROWS]
    return [{"key": str(df["key"].iloc[i]), "path": str(paths[i])} for i in pos]


def _load_hashes(df: pd.DataFrame, index_dir: Path | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, str]:
    """(pHash, has pHash, dHash, has dHash, source) per manifest row: from the index's hashes.parquet where
    present, else the manifest's phash column (manifests carry no dHash)."""
    values, ok = S.parse_hashes(df["phash"].tolist())
    dvalues, dok = np.zeros(len(df), np.uint64), np.zeros(len(df), bool)
    src = "manifest phash column"
    h = layout.read_hashes(index_dir) if index_dir is not None else None
    if h is not None:
        pos = pd.Series(np.arange(len(df)), index=df["key"].astype(str))
        hk = h["key"].astype(str)
        present = hk.isin(pos.index).to_numpy()
        rows = pos.loc[hk[present]].to_numpy()
        values[rows] = h["phash"].to_numpy(np.uint64)[present]
        ok[rows] = True
        if "dhash" in h.columns:
            dvalues[rows] = h["dhash"].to_numpy(np.uint64)[present]
            dok[rows] = True
        src = "index hashes.parquet (manifest phash column for rows not in the index)"
    return values, ok, dvalues, dok, src


def _optout(df: pd.DataFrame, registry: str | Path) -> dict[str, Any]:
    from audit.optout.match import check_manifest
    from audit.optout.registry import open_registry

    with open_registry(check_registry(registry)) as reg:
        reg_df = reg.frame()
        reg_hash = reg.content_hash()
    res = check_manifest(df, reg_df)
    covered = res.covered_keys
    by_rule = res.matches.groupby("rule")["key"].nunique() if len(res.matches) else pd.Series(dtype=int)
    n = max(len(df), 1)
    return {"registry": str(registry), "registry_hash": reg_hash, "rows_covered": len(covered),
            "share": round(len(covered) / n, 4), "by_rule": {str(k): int(v) for k, v in by_rule.items()},
            "entries_active": int(len(reg_df)), "method": "audit.optout.match.check_manifest (url, domain, "
            "sha256, phash, artist rules)", "keys": sorted(covered)}


def _removal_db(df: pd.DataFrame, db: Path) -> dict[str, Any]:
    """Rows of a removal-request DB (audit.removal): tombstoned images still present (sha256, or pHash within
    the tombstone distance) and rows confirmed as hits of any request (pending or done)."""
    conn = connect(db)
    try:
        tomb = load_tombstones(conn)
        reqs = list_requests(conn, include_closed=True)
        confirmed = {k for r in reqs for k in confirmed_keys(conn, r.id)}
    finally:
        conn.close()
    keys = df["key"].astype(str).to_numpy()
    sha = df["sha256"].astype("string").str.lower().fillna("").to_numpy()
    hit = np.array([h in tomb.by_sha for h in sha], dtype=bool)
    if tomb.phashes and len(df):
        ph, ok = S.parse_hashes(df["phash"].tolist())
        stones = np.array([value for value, _ in tomb.phashes], np.uint64)
        rows = np.flatnonzero(ok)
        hit[rows[near_pairs(ph[rows], stones, tomb.max_distance).i]] = True
    tombstoned = set(keys[hit])
    requested = set(keys) & confirmed
    both = tombstoned | requested
    return {"requests": str(db), "requests_total": len(reqs), "erased_keys_listed": len(tomb.by_sha),
            "rows_still_present": len(tombstoned), "rows_requested": len(requested),
            "share": round(len(both) / max(len(df), 1), 4), "keys": sorted(both),
            "method": f"audit.removal DB: rows matching a tombstone (sha256, or pHash within {tomb.max_distance} "
                      f"bits) — erased items that came back — plus rows confirmed as hits of any request"}


def _removal(df: pd.DataFrame, requests: str | Path) -> dict[str, Any]:
    p = check_requests(requests)
    if is_sqlite(p):
        return _removal_db(df, p)
    erased = read_key_list(p)
    present = set(df["key"].astype(str)) & erased
    return {"requests": str(requests), "requests_total": None, "erased_keys_listed": len(erased),
            "rows_still_present": len(present), "rows_requested": len(present),
            "share": round(len(present) / max(len(df), 1), 4), "keys": sorted(present),
            "method": "plain list of erased keys: manifest keys that appear in it (should be 0 after erasure)"}


def _concepts(index_dir: Path, prompts: dict[str, list[str]]) -> tuple[list[dict], str]:
    from audit.card.concepts import concept_coverage

    idx = cached_index(index_dir)
    vectors = layout.open_vectors(index_dir)
    keys = idx.table["key"].astype(str).tolist()
    paths = [str(p) for p in resolve_paths(idx.table, idx.dataset_dir)]
    groups = concept_coverage(vectors, keys, paths, idx.embedder, prompts)
    return groups, f"CLIP zero-shot with model {idx.meta.get('model')} over {len(keys)} indexed images. {LIMITS}"


@dataclass(frozen=True)
class _Rows:
    """The rows a card describes and where they came from (step 1 of build_card)."""

    df: pd.DataFrame
    dataset_dir: Path
    index_dir: Path | None
    from_index: bool                      # the card was asked of an index dir (its dataset's manifest is read)


@dataclass(frozen=True)
class _Duplicates:
    """Exact and near-duplicate clusters as {key, path} members, with the sentence saying how they were found."""

    exact: list[list[dict]]
    near: list[list[dict]]
    method: str


def _resolve_index(src: Path, index: str | Path | None) -> Path | None:
    """The index dir to read (the source itself when it is one); a non-index `--index` is an InputError."""
    index_dir = Path(index) if index is not None else None
    if layout.is_index_dir(src):
        index_dir = src
    if index_dir is not None and not layout.is_index_dir(index_dir):
        raise InputError(f"{index_dir} is not an index dir (no meta.json with kind=index)",
                         "build one with `audit index build`")
    return index_dir


def _index_disagreement(df: pd.DataFrame, idx_table: pd.DataFrame, index_dir: Path) -> str | None:
    """A warning naming the rows only the manifest or only the index holds; None when they agree."""
    mk, ik = set(df["key"].astype(str)), set(idx_table["key"].astype(str))
    if mk == ik:
        return None
    only_m, only_i = mk - ik, ik - mk
    msg = f"index {index_dir} and manifest disagree on rows ({len(ik)} indexed vs {len(mk)} in manifest)"
    if only_m:
        msg += f"; in the manifest but not the index: {len(only_m)} ({_key_list(only_m)})"
    if only_i:
        msg += f"; in the index but not the manifest: {len(only_i)} ({_key_list(only_i)})"
    return msg


def _read_rows(src: Path, index_dir: Path | None, warnings: list[str]) -> _Rows:
    """The manifest to describe: the source's, or (for an index dir) its dataset's, falling back to the rows stored
    in the index when that manifest is gone. Index/manifest disagreement is a warning, never a silent pick."""
    idx_table = layout.read_ids(index_dir) if index_dir is not None else None
    from_index = src == index_dir
    if from_index:
        assert index_dir is not None and idx_table is not None  # src == index_dir
        ds = layout.dataset_dir(index_dir)
        if manifest_path(ds).is_file():
            df = read_manifest(ds)
        else:
            warnings.append(f"the index's dataset manifest {manifest_path(ds)} is missing; describing the "
                            f"{len(idx_table)} rows stored in the index's {layout.IDS_NAME} instead")
            df = idx_table.drop(columns=["id"])
        dataset_dir = ds
    else:
        mpath = manifest_path(src)
        df = read_manifest(mpath)
        dataset_dir = mpath.parent
    if idx_table is not None and index_dir is not None and (msg := _index_disagreement(df, idx_table, index_dir)):
        warnings.append(msg)
    if len(df) == 0:
        warnings.append("the manifest has no rows: nothing to describe")
    return _Rows(df, dataset_dir, index_dir, from_index)


def _duplicate_method(n: int, near_threshold: int, mirror: bool, hash_src: str, compared: int, unique: int,
                      flipped: int, no_phash: int, linked_rows: int, confirmed_rows: int) -> str:
    """The sentence under the duplicate figures: every threshold and count a reader needs to trust them."""
    near_plan = plan_self(unique, near_threshold, mirror)
    subs, radius = near_plan.segments, near_plan.radius
    return (f"exact: identical sha256; near: pHash (64 bit) Hamming distance <= {near_threshold}, single-linkage, "
            f"from the {hash_src}; exact multi-index hashing ({len(subs)} substrings, probe radius {radius} bits) "
            f"verified {compared} candidate pairs instead of {n * (n - 1) // 2} all-pairs; "
            + (f"horizontally flipped copies matched too (the flipped pHash is derived from the stored one: "
               f"odd horizontal DCT frequencies change sign, a few bits off), {flipped} member(s) shown as "
               f"'mirrored' (closer to the flipped first member); " if mirror else "mirrored copies are not matched; ")
            + f"{no_phash} rows without a pHash; "
            + f"each pHash link confirmed by dHash <= {near_threshold} where both rows have one (index hashes; pairs "
              f"linked through the flipped pHash keep the pHash link): {linked_rows} rows in pHash clusters, "
              f"{confirmed_rows} after the dHash check")


def _duplicates(rows: _Rows, keys: list[str], paths: list[Path], near_threshold: int, mirror: bool,
                warnings: list[str]) -> _Duplicates:
    """Exact clusters (sha256) and near clusters (pHash links confirmed by dHash where the index has it)."""
    df = rows.df
    exact = S.exact_clusters(keys, df["sha256"])
    hashes, ok, dhashes, has_dhash, hash_src = _load_hashes(df, rows.index_dir)
    near, compared = S.near_clusters(hashes, ok, near_threshold, mirror=mirror)
    linked_rows = sum(len(c) for c in near)
    near, unsplit = S.confirm_clusters(near, hashes, dhashes, has_dhash, near_threshold, mirror=mirror)
    if unsplit:
        warnings.append(f"{unsplit} near-duplicate cluster(s) above {S.MAX_CONFIRM_MEMBERS} members were not "
                        "checked against dHash (pHash links only)")
    near_rows = _cluster_rows(near, keys, paths, hashes if mirror else None)
    flipped = sum(m.get("mirrored", False) for c in near_rows for m in c)
    canon = np.minimum(hashes[ok], S.mirror_hash(hashes[ok])) if mirror else hashes[ok]
    method = _duplicate_method(len(df), near_threshold, mirror, hash_src, compared, len(np.unique(canon)), flipped,
                               int((~ok).sum()), linked_rows, sum(len(c) for c in near))
    return _Duplicates(_cluster_rows(exact, keys, paths), near_rows, method)


def build_card(source: str | Path, *, index: str | Path | None = None, registry: str | Path | None = None,
               requests: str | Path | None = None, prompts: str | Path | dict | None = None,
               near_threshold: int = config.PHASH_NEAR_DUPLICATE, title: str | None = None,
               mirror: bool = True) -> DatasetCard:
    """Describe a training set. `source` is a dataset dir, a manifest file or an index dir (then its manifest
    is read from the index's dataset dir, and concept coverage uses the stored vectors). `mirror` also joins
    horizontally flipped copies into near-duplicate clusters."""
    src = Path(source)
    warnings: list[str] = []
    if registry is not None:  # refuse a wrong file before any work (and before anything opens it for writing)
        check_registry(registry)
    if requests is not None:
        check_requests(requests)
    rows = _read_rows(src, _resolve_index(src, index), warnings)
    df, dataset_dir, index_dir, n = rows.df, rows.dataset_dir, rows.index_dir, len(rows.df)
    keys = df["key"].astype(str).tolist()
    paths = resolve_paths(df, dataset_dir) if n else []
    prompt_groups = prompts if isinstance(prompts, dict) else load_prompts(prompts)

    licenses = S.counts(df["license"])
    authors = S.counts(df["author"])
    top, tail_values, tail_rows = S.top_and_tail(authors, TOP_AUTHORS)
    unknown = {c: int(S.clean(df[c]).eq(S.UNKNOWN).sum()) for c in
               ("caption", "author", "license", "source", "url", "sha256", "phash", "width", "height")}
    dups = _duplicates(rows, keys, paths, near_threshold, mirror, warnings)

    concepts, note = None, "not computed: pass an index (or build the card from an index dir) to get CLIP concept coverage"
    if index_dir is not None and n:
        concepts, note = _concepts(index_dir, prompt_groups)

    return DatasetCard(
        title=title or (dataset_dir.name if not rows.from_index
                        else f"{dataset_dir.name} (read through its index {Path(str(index_dir)).name}/)"),
        input=str(src), input_kind="index" if rows.from_index else "manifest",
        dataset_dir=str(dataset_dir), index_dir=str(index_dir) if index_dir else None, rows=n,
        columns=[str(c) for c in df.columns], manifest_hash=manifest_hash(df), keys=keys,
        sources=S.counts(S.source_name(df["source"])), domains=S.counts(S.domains(df["url"])),
        licenses=licenses, authors_top=top, authors_total=len(authors),
        authors_tail={"values": tail_values, "rows": tail_rows}, unknown=unknown,
        sizes=S.size_stats(df["width"], df["height"]), formats=S.counts(S.formats(df["path"])),
        captions=S.caption_stats(df["caption"]),
        exact_duplicates=dups.exact, near_duplicates=dups.near,
        near_threshold=near_threshold, duplicate_method=dups.method,
        optout=_with_examples(_optout(df, registry), df, paths) if registry is not None else None,
        removal=_with_examples(_removal(df, requests), df, paths) if requests is not None else None,
        concepts=concepts, concept_note=note, prompts=prompt_groups, warnings=warnings,
        author_counts=dict(authors), license_counts=dict(licenses), near_mirror=mirror,
    )


def _with_examples(fig: dict[str, Any], df: pd.DataFrame, paths: list[Path]) -> dict[str, Any]:
    return fig | {"examples": _examples(df, set(fig["keys"]), paths)}


def _deltas(a: dict[str, int], b: dict[str, int]) -> list[tuple[str, int, int, int]]:
    rows = [(k, a.get(k, 0), b.get(k, 0), b.get(k, 0) - a.get(k, 0)) for k in set(a) | set(b)]
    return sorted(rows, key=lambda r: (r[3] == 0, -abs(r[3]), r[0]))


def compare_cards(old: DatasetCard, new: DatasetCard) -> CardComparison:
    ko, kn = set(old.keys), set(new.keys)
    return CardComparison(
        old=old, new=new, added=len(kn - ko), removed=len(ko - kn),
        added_keys=sorted(kn - ko)[:50], removed_keys=sorted(ko - kn)[:50],
        license_deltas=_deltas(old.license_counts, new.license_counts),
        author_deltas=_deltas(old.author_counts, new.author_counts),
        source_deltas=_deltas(dict(old.sources), dict(new.sources)),
    )

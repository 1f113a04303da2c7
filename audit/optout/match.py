"""Which manifest rows does an opt-out cover, and why: column-wise joins, never a per-row loop.

Rules, each a join between the manifest and the registry:
  url          canonical URL key equality (scheme-insensitive, IDN -> punycode, host case-folded)
  url_prefix   same host:port, then a vectorised startswith grouped by prefix length
  domain       every suffix of each *unique* host joined against registered domains (covers subdomains)
  sha256       equality with sha256 entries and example images
  phash        Hamming distance <= threshold by a multi-index-hashing join on 64-bit codes (audit.index.hamming)
  artist       n-gram join: adjacent text tokens joined column-wise and looked up among the names and
               aliases of the same length; word-boundary exact, so "Monet" never flags "Monetti".
               One-word aliases must be capitalised in captions (proper noun).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from audit import config
from audit.index.hamming import near_pairs
from audit.optout import normalise as N

MATCH_COLUMNS = ["key", "url", "rule", "entry_id", "entry", "scope", "source", "field", "matched", "start", "end",
                 "distance", "reason"]
PROBLEM_COLUMNS = ["key", "url", "problem"]


@dataclass(frozen=True)
class CheckResult:
    """Matches (one row per manifest row × covering entry) and rows that could not be checked fully."""

    matches: pd.DataFrame
    problems: pd.DataFrame
    rows_checked: int
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def covered_keys(self) -> set[str]:
        return set(self.matches["key"].astype(str))


def _empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in MATCH_COLUMNS})


def _finish(df: pd.DataFrame, rule: str, field_name: str, reason: pd.Series) -> pd.DataFrame:
    out = pd.DataFrame({
        "key": df["key"].astype(str).to_numpy(),
        "url": df["url"].to_numpy() if "url" in df else None,
        "rule": rule,
        "entry_id": df["id"].astype("int64").to_numpy(),
        "entry": df["display"].to_numpy(),
        "scope": df["scope"].to_numpy(),
        "source": df["source"].to_numpy(),
        "field": field_name,
        "matched": df["matched"].astype(str).to_numpy(),
        "start": df["start"].to_numpy() if "start" in df else None,
        "end": df["end"].to_numpy() if "end" in df else None,
        "distance": df["distance"].to_numpy() if "distance" in df else None,
        "reason": reason.to_numpy(),
    })
    return out


def url_parts(manifest: pd.DataFrame) -> pd.DataFrame:
    parts = N.split_urls(N.text_column(manifest["url"]))
    return pd.DataFrame({
        "key": manifest["key"].astype(str).to_numpy(),
        "url": manifest["url"].to_numpy(),
        "host": parts["host"].to_pandas(),
        "hostport": parts["hostport"].to_pandas(),
        "url_key": parts["url_key"].to_pandas(),
        "url_error": parts["url_error"].to_pandas(),
    })


def _match_urls(u: pd.DataFrame, reg: pd.DataFrame) -> list[pd.DataFrame]:
    out = []
    exact = reg[reg["kind"] == "url"]
    if len(exact):
        cand = u[u["url_key"].isin(exact["value"])]  # filter the big side first, merge only the hits
        m = cand.merge(exact, left_on="url_key", right_on="value")
        m["matched"] = m["url"]
        out.append(_finish(m, "url", "url", "URL " + m["url"].astype(str) + " is registered (" + m["display"] + ")"))
    pre = reg[reg["kind"] == "url_prefix"].copy()
    if len(pre):
        pre["hostport"] = pre["value"].str.split("/", n=1).str[0]
        cand = u[u["hostport"].isin(pre["hostport"])].merge(pre, on="hostport")  # hostport parsed once, column-wise
        if len(cand):
            cand["plen"] = cand["value"].str.len()
            hits = []
            for plen, grp in cand.groupby("plen", sort=False):
                hits.append(grp[grp["url_key"].str.slice(0, int(plen)) == grp["value"]])
            m = pd.concat(hits) if hits else cand.iloc[:0]
            m["matched"] = m["url"]
            out.append(_finish(m, "url_prefix", "url", "URL " + m["url"].astype(str) + " is under registered prefix " + m["display"]))
    dom = reg[reg["kind"] == "domain"]
    if len(dom):
        hosts = u["host"].dropna()
        codes, distinct = pd.factorize(hosts)  # string work on each distinct host once, not per row
        host_only = pd.Series(distinct).str.split(":", n=1).str[0]
        hosts = pd.Series(host_only.to_numpy()[codes], index=hosts.index)
        uniq = pd.DataFrame({"host_only": host_only.unique()})
        uniq["suffix"] = uniq["host_only"].str.split(".").map(lambda labels: [".".join(labels[i:]) for i in range(len(labels))])
        suff = uniq.explode("suffix").merge(dom, left_on="suffix", right_on="value")
        if len(suff):
            sel = hosts[hosts.isin(suff["host_only"])]
            uu = u.loc[sel.index].assign(host_only=sel.to_numpy())
            m = uu.merge(suff, on="host_only")
            m["matched"] = m["host_only"]
            out.append(_finish(m, "domain", "url", "host " + m["host_only"] + " is in registered domain " + m["value"]))
    return out


def _match_sha(manifest: pd.DataFrame, reg: pd.DataFrame) -> list[pd.DataFrame]:
    shas = reg[reg["kind"].isin(["sha256", "image"])]
    if not len(shas) or "sha256" not in manifest:
        return []
    left = pd.DataFrame({"key": manifest["key"].astype(str), "url": manifest["url"],
                         "sha": manifest["sha256"].astype("string").str.strip().str.lower()})
    left = left[left["sha"].isin(shas["value"])]
    m = left.merge(shas, left_on="sha", right_on="value")
    m["matched"] = m["sha"]
    return [
        _finish(
            m,
            "sha256",
            "sha256",
            "identical file (sha256 " + m["sha"].str.slice(0, 12) + "…) registered as " + m["kind"] + " " + m["display"].str.slice(0, 40),
        )
    ]


def _match_phash(manifest: pd.DataFrame, reg: pd.DataFrame, max_distance: int) -> list[pd.DataFrame]:
    ph = reg[reg["kind"] == "phash"][["id", "value"]].rename(columns={"value": "code"})
    im = reg[(reg["kind"] == "image") & reg["phash"].notna()][["id", "phash"]].rename(columns={"phash": "code"})
    ents = pd.concat([ph, im], ignore_index=True)
    if not len(ents) or "phash" not in manifest:
        return []
    rcodes, rok = N.hex_to_uint64(ents["code"].astype(str))
    ents, rcodes = ents[rok].reset_index(drop=True), rcodes[rok]
    mcodes, mok = N.hex_to_uint64(N.text_column(manifest["phash"]))
    uniq, inverse = np.unique(mcodes[mok], return_inverse=True)
    if not len(uniq) or not len(ents):
        return []
    qi, ri, dist = near_pairs(uniq, rcodes, max_distance)  # multi-index hashing join, exact
    if not len(qi):
        return []
    pairs = pd.DataFrame({"u": qi, "r": ri, "distance": dist.astype("int64")})
    rows = np.flatnonzero(mok)
    inv = inverse.ravel()
    sel = np.isin(inv, qi)
    left = pd.DataFrame({"row": rows[sel], "u": inv[sel]}).merge(pairs, on="u")
    left = left.merge(ents.reset_index().rename(columns={"index": "r", "id": "id"}), on="r")
    left = left.merge(reg, on="id", suffixes=("", "_reg"))
    left["key"] = manifest["key"].astype(str).to_numpy()[left["row"]]
    left["url"] = manifest["url"].to_numpy()[left["row"]]
    left["matched"] = manifest["phash"].astype(str).to_numpy()[left["row"]]
    exact = left["distance"] == 0
    what = np.where(exact, "same perceptual hash as", "near-duplicate (Hamming " + left["distance"].astype(str) + f" ≤ {max_distance}) of")
    reason = pd.Series(what, index=left.index) + " registered " + left["kind"] + " " + left["display"].str.slice(0, 40)
    return [_finish(left, "phash", "phash", reason)]


MAX_NAME_TOKENS = 6


def artist_patterns(reg: pd.DataFrame) -> pd.DataFrame:
    """One row per (artist entry, name or alias) with its token tuple; all names tokenised in one call."""
    art = reg[reg["kind"] == "artist"]
    cols = ["id", "pattern", "toks", "n", "joined"]
    if not len(art):
        return pd.DataFrame(columns=cols)
    ids, names = [], []
    for eid, display, aliases in zip(art["id"], art["display"], art["aliases"]):
        for name in [display] + list(json.loads(aliases or "[]")):
            ids.append(int(eid))
            names.append(name)
    low, _, parents = N.tokenise(pa.array(names, type=pa.large_string()))
    toks = pd.Series(low.to_numpy(zero_copy_only=False)).groupby(np.asarray(parents)).agg(tuple)
    df = pd.DataFrame({"id": np.asarray(ids)[toks.index], "pattern": np.asarray(names, dtype=object)[toks.index], "toks": toks.to_numpy()})
    df["n"] = df["toks"].map(len)
    df = df[df["n"] <= MAX_NAME_TOKENS]
    df["joined"] = df["toks"].map(" ".join)
    return df.drop_duplicates(["id", "joined"]).reset_index(drop=True)[cols]


def find_names(texts: pd.Series, patterns: pd.DataFrame, *, proper_noun_single: bool) -> pd.DataFrame:
    """(row, id, pattern, toks, n, tok) for every text containing a pattern as whole adjacent tokens
    (`tok`: index of the first matched token within its text, for `normalise.token_span`).

    Vectorised n-gram join: for each pattern length n, adjacent tokens are joined column-wise and
    looked up in a hash set of the patterns of that length — cost linear in tokens, independent of
    how many names share a first name."""
    cols = ["row", "id", "pattern", "toks", "n", "tok"]
    if not len(patterns) or not len(texts):
        return pd.DataFrame(columns=cols)
    if "joined" not in patterns:
        patterns = patterns.assign(joined=patterns["toks"].map(" ".join))
    arr = N.text_column(texts)
    low, orig, parents = N.tokenise(arr)
    total = len(low)
    par = np.asarray(parents.to_numpy(zero_copy_only=False))
    sep = pa.scalar(" ", pa.large_string())
    found = []
    for n, pats in patterns.groupby("n"):
        n = int(n)
        m = total - n + 1
        if m <= 0:
            continue
        grams = low.slice(0, m)
        for k in range(1, n):
            grams = pc.binary_join_element_wise(grams, low.slice(k, m), sep)
        mask = np.asarray(
            pc.is_in(grams, value_set=pa.array(pats["joined"].unique(), type=pa.large_string())).to_numpy(zero_copy_only=False), dtype=bool
        )
        if n > 1:
            mask &= par[:m] == par[n - 1 :]  # all tokens from the same text
        pos = np.flatnonzero(mask)
        if not len(pos):
            continue
        hit = pd.DataFrame({"pos": pos, "row": par[pos], "joined": pc.take(grams, pa.array(pos)).to_numpy(zero_copy_only=False)})
        hit = hit.merge(pats, on="joined")
        if n == 1 and proper_noun_single:
            first_chars = pc.utf8_slice_codeunits(pc.take(orig, pa.array(hit["pos"].to_numpy())), 0, 1)
            hit = hit[np.asarray(pc.utf8_is_upper(first_chars).to_numpy(zero_copy_only=False), dtype=bool)]
        found.append(hit)
    if not found:
        return pd.DataFrame(columns=cols)
    cand = pd.concat(found, ignore_index=True)
    cand = cand.sort_values(["row", "id", "n", "pos"], ascending=[True, True, False, True])
    cand = cand.drop_duplicates(["row", "id"])
    cand["tok"] = cand["pos"].to_numpy() - np.searchsorted(par, cand["row"].to_numpy(), side="left")  # parents are sorted
    return cand[cols]


def _match_names(manifest: pd.DataFrame, reg: pd.DataFrame) -> list[pd.DataFrame]:
    pats = artist_patterns(reg)
    out: list[pd.DataFrame] = []
    if not len(pats):
        return out
    for fld in ("author", "caption"):
        if fld not in manifest:
            continue
        hits = find_names(manifest[fld], pats, proper_noun_single=(fld != "author"))
        if not len(hits):
            continue
        hits = hits.merge(reg, on="id")
        texts = manifest[fld].astype(str).to_numpy()[hits["row"].to_numpy()]
        spans = [N.token_span(t, i, toks) or (None, None) for t, i, toks in zip(texts, hits["tok"], hits["toks"])]
        hits["start"] = [s for s, _ in spans]
        hits["end"] = [e for _, e in spans]
        hits["matched"] = [t[s:e] if s is not None else " ".join(k) for t, (s, e), k in zip(texts, spans, hits["toks"])]
        hits["key"] = manifest["key"].astype(str).to_numpy()[hits["row"].to_numpy()]
        hits["url"] = manifest["url"].to_numpy()[hits["row"].to_numpy()]
        reason = (
            "artist "
            + hits["display"]
            + " named in "
            + fld
            + ": '"
            + hits["matched"]
            + "'"
            + np.where(hits["pattern"] != hits["display"], " (alias '" + hits["pattern"] + "')", "")
        )
        out.append(_finish(hits, "artist", fld, reason))
    return out


def check_manifest(
    manifest: pd.DataFrame,
    registry: pd.DataFrame,
    *,
    max_distance: int = config.PHASH_NEAR_DUPLICATE,
    rules: tuple[str, ...] = ("url", "sha256", "phash", "artist"),
) -> CheckResult:
    """Every (row, entry) pair where an active registry entry covers a manifest row, with the reason."""
    reg = registry[registry["active"].astype(bool)] if "active" in registry else registry
    parts: list[pd.DataFrame] = []
    u = url_parts(manifest)
    if "url" in rules:
        parts += _match_urls(u, reg)
    if "sha256" in rules:
        parts += _match_sha(manifest, reg)
    if "phash" in rules:
        parts += _match_phash(manifest, reg, max_distance)
    if "artist" in rules:
        parts += _match_names(manifest, reg)
    parts = [p for p in parts if len(p)]
    matches = pd.concat(parts, ignore_index=True) if parts else _empty()
    matches = matches.sort_values(["key", "rule", "entry_id"], kind="stable").reset_index(drop=True)
    bad = u[u["url_error"].notna()]
    problems = pd.DataFrame({"key": bad["key"], "url": bad["url"], "problem": bad["url_error"]}).reset_index(drop=True)
    counts = {f"rule_{k}": int(v) for k, v in matches["rule"].value_counts().items()}
    counts["rows_covered"] = int(matches["key"].nunique())
    counts["malformed_urls"] = len(problems)
    return CheckResult(matches, problems, len(manifest), counts)

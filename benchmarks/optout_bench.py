"""Opt-out matching: 1M manifest rows × 100k registry entries, vectorised vs a naive per-row loop.

    nice -n 10 .venv/bin/python benchmarks/optout_bench.py [--rows 1000000] [--entries 100000] [--naive 5000]

The naive baseline is a *reasonable* per-row loop (dict/set lookups, numpy Hamming per row, n-gram
name lookup) run on a subsample in the same process; its time is extrapolated to all rows. Both
must find the same matches on the subsample.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import urllib.parse

import numpy as np
import pandas as pd


def synth(rows: int, entries: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    n_hosts = 50_000
    hosts = np.array([f"img{i}.host{i % 9000}.example" for i in range(n_hosts)])
    words = np.array("the a painting photo of in style by with sunset portrait river city old new red blue cat dog "
                     "landscape abstract oil study light dark morning garden".split())
    first = np.array(["anna", "ben", "carla", "dmitri", "eva", "femi", "gao", "hana", "ivan", "jia", "kofi", "lena"])
    last = np.array([f"surname{i}" for i in range(20_000)])
    h = rng.integers(0, n_hosts, rows)
    url = pd.Series(hosts[h]).radd("https://") + "/p/" + pd.Series(rng.integers(0, 10**9, rows)).astype(str) + ".jpg"
    w = rng.integers(0, len(words), (rows, 8))
    cap = pd.Series([" ".join(r) for r in words[w]])  # setup only, not timed
    named = rng.random(rows) < 0.05
    nm = (
        pd.Series(first[rng.integers(0, len(first), rows)]).str.title()
        + " "
        + pd.Series(last[rng.integers(0, len(last), rows)]).str.title()
    )
    cap = cap.where(~named, cap + " by " + nm)
    author = (
        pd.Series(first[rng.integers(0, len(first), rows)]).str.title()
        + " "
        + pd.Series(last[rng.integers(0, len(last), rows)]).str.title()
    )
    sha = pd.Series(rng.integers(0, 2**63, rows, dtype=np.int64)).map("{:064x}".format)
    ph = rng.integers(0, 2**63, rows, dtype=np.int64).astype(np.uint64)
    manifest = pd.DataFrame(
        {
            "key": np.arange(rows).astype(str),
            "url": url,
            "caption": cap,
            "author": author,
            "sha256": sha,
            "phash": pd.Series(ph).map("{:016x}".format),
        }
    )
    # registry: 40% URLs (half present), 10% prefixes, 20% domains, 15% sha256, 10% phash (near copies), 5% names
    k = {
        "url": int(entries * 0.4),
        "url_prefix": int(entries * 0.1),
        "domain": int(entries * 0.2),
        "sha256": int(entries * 0.15),
        "phash": int(entries * 0.1),
    }
    k["artist"] = entries - sum(k.values())
    pick = lambda n: rng.integers(0, rows, n)  # noqa: E731
    urls = manifest["url"].to_numpy()[pick(k["url"])]
    urls[::2] = [u.replace(".jpg", "-absent.jpg") for u in urls[::2]]
    flips = (np.uint64(1) << rng.integers(0, 64, k["phash"]).astype(np.uint64)) | (
        np.uint64(1) << rng.integers(0, 64, k["phash"]).astype(np.uint64)
    )
    reg = pd.concat(
        [
            pd.DataFrame({"kind": "url", "display": urls}),
            pd.DataFrame({"kind": "url_prefix", "display": [f"https://{hosts[i]}/p/1" for i in rng.integers(0, n_hosts, k["url_prefix"])]}),
            pd.DataFrame({"kind": "domain", "display": [f"host{i}.example" for i in rng.integers(0, 9000 * 20, k["domain"])]}),
            pd.DataFrame({"kind": "sha256", "display": manifest["sha256"].to_numpy()[pick(k["sha256"])]}),
            pd.DataFrame({"kind": "phash", "display": pd.Series(ph[pick(k["phash"])] ^ flips).map("{:016x}".format)}),
            pd.DataFrame(
                {
                    "kind": "artist",
                    "display": [
                        f"{first[i % 12].title()} {last[j].title()}"
                        for i, j in zip(rng.integers(0, 12, k["artist"]), rng.integers(0, len(last), k["artist"]))
                    ],
                }
            ),
        ],
        ignore_index=True,
    )
    reg = reg.drop_duplicates(["kind", "display"]).reset_index(drop=True)
    reg["id"] = np.arange(len(reg))
    low = reg["display"].str.lower()
    reg["value"] = np.where(reg["kind"].isin(["url", "url_prefix"]), low.str.replace("https://", "", regex=False), low)
    reg["aliases"], reg["scope"], reg["source"], reg["active"], reg["phash"] = "[]", "ai-training", "bench", 1, None
    return manifest, reg


def naive(manifest: pd.DataFrame, reg: pd.DataFrame, max_distance: int = 8) -> set[tuple[str, str, int]]:
    """The per-row loop a first implementation would write."""
    from audit.optout.normalise import name_tokens

    by = {k: g for k, g in reg.groupby("kind")}
    urls = dict(zip(by["url"]["value"], by["url"]["id"]))
    prefixes: dict[str, list[tuple[str, int]]] = {}
    for v, i in zip(by["url_prefix"]["value"], by["url_prefix"]["id"]):
        prefixes.setdefault(v.split("/", 1)[0], []).append((v, i))
    domains = dict(zip(by["domain"]["value"], by["domain"]["id"]))
    shas = dict(zip(by["sha256"]["value"], by["sha256"]["id"]))
    pcodes = np.array([int(x, 16) for x in by["phash"]["value"]], dtype=np.uint64)
    pids = by["phash"]["id"].to_numpy()
    names = {tuple(v.split()): i for v, i in zip(by["artist"]["value"], by["artist"]["id"])}
    out = set()
    for key, url, cap, author, sha, ph in zip(
        manifest["key"], manifest["url"], manifest["caption"], manifest["author"], manifest["sha256"], manifest["phash"]
    ):
        p = urllib.parse.urlsplit(url)
        host = (p.hostname or "").lower()
        ukey = host + (p.path or "/") + (f"?{p.query}" if p.query else "")
        if ukey in urls:
            out.add((key, "url", urls[ukey]))
        for v, i in prefixes.get(host, ()):
            if ukey.startswith(v):
                out.add((key, "url_prefix", i))
        labels = host.split(".")
        for j in range(len(labels)):
            d = ".".join(labels[j:])
            if d in domains:
                out.add((key, "domain", domains[d]))
        if sha.lower() in shas:
            out.add((key, "sha256", shas[sha.lower()]))
        x = np.bitwise_xor(pcodes, np.uint64(int(ph, 16)))
        dist = np.unpackbits(x.view(np.uint8).reshape(-1, 8), axis=1).sum(1)
        for i in pids[dist <= max_distance]:
            out.add((key, "phash", int(i)))
        for _fld, text in (("author", author), ("caption", cap)):
            toks = name_tokens(text)
            for n in (2, 3):
                for s in range(len(toks) - n + 1):
                    if toks[s : s + n] in names:
                        out.add((key, "artist", names[toks[s : s + n]]))
    return out


def phash_ab(manifest: pd.DataFrame, reg: pd.DataFrame, max_distance: int = 8) -> dict:
    """The previous phash stage (faiss brute-force binary range search) against the join now used, same codes."""
    import faiss

    from audit.index.hamming import near_pairs
    from audit.optout.normalise import hex_to_uint64

    rcodes, rok = hex_to_uint64(reg.loc[reg["kind"] == "phash", "value"].astype(str))
    mcodes, mok = hex_to_uint64(manifest["phash"].astype(str))
    q, r = np.unique(mcodes[mok]), rcodes[rok]
    out = {}
    t, c = time.perf_counter(), time.process_time()
    index = faiss.IndexBinaryFlat(64)
    index.add(np.ascontiguousarray(r.astype(">u8").view(np.uint8).reshape(-1, 8)))
    lims, _, ids = index.range_search(np.ascontiguousarray(q.astype(">u8").view(np.uint8).reshape(-1, 8)), max_distance + 1)
    out["faiss"] = (round(time.perf_counter() - t, 2), round(time.process_time() - c, 2))
    a = set(zip(np.repeat(np.arange(len(q)), np.diff(lims).astype(np.int64)).tolist(), ids.tolist()))
    t, c = time.perf_counter(), time.process_time()
    qi, ri, _ = near_pairs(q, r, max_distance)
    out["mih"] = (round(time.perf_counter() - t, 2), round(time.process_time() - c, 2))
    out["same"] = a == set(zip(qi.tolist(), ri.tolist()))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--entries", type=int, default=100_000)
    ap.add_argument("--naive", type=int, default=5_000)
    ap.add_argument("--no-ab", action="store_true", help="skip the phash A/B against faiss brute force")
    args = ap.parse_args()
    from audit.optout.match import check_manifest

    t = time.perf_counter()
    manifest, reg = synth(args.rows, args.entries)
    print(
        f"synthesised {len(manifest):,} rows, {len(reg):,} entries {reg['kind'].value_counts().to_dict()} in {time.perf_counter() - t:.1f}s"
    )
    from audit.optout import match as M

    stages: dict[str, tuple[float, float]] = {}

    def stage(name, fn):
        t, c = time.perf_counter(), time.process_time()
        out = fn()
        stages[name] = (round(time.perf_counter() - t, 2), round(time.process_time() - c, 2))
        return out

    u = stage("url_parsing", lambda: M.url_parts(manifest))
    stage("url+prefix+domain", lambda: M._match_urls(u, reg))
    stage("sha256", lambda: M._match_sha(manifest, reg))
    stage("phash", lambda: M._match_phash(manifest, reg, 8))
    stage("artist", lambda: M._match_names(manifest, reg))
    print("per stage alone (wall s, CPU s): " + ", ".join(f"{k} {w}/{c}" for k, (w, c) in stages.items()))
    if not args.no_ab:
        ab = phash_ab(manifest, reg)
        print(
            f"phash A/B on the same codes: faiss IndexBinaryFlat.range_search {ab['faiss']} vs multi-index-hashing join "
            f"{ab['mih']} (wall s, CPU s); identical pairs: {ab['same']}"
        )
    t, c = time.perf_counter(), time.process_time()
    res = check_manifest(manifest, reg)
    fast, cpu = time.perf_counter() - t, time.process_time() - c
    print(
        f"vectorised: {fast:.1f}s wall ({cpu:.1f}s CPU over all threads) for {len(manifest):,} rows; "
        f"{len(res.matches):,} matches {res.counts}; load avg {os.getloadavg()[0]:.1f}"
    )
    sub = manifest.sample(args.naive, random_state=1)
    t = time.perf_counter()
    slow_found = naive(sub, reg)
    slow = time.perf_counter() - t
    extrapolated = slow * len(manifest) / len(sub)
    m = res.matches
    fast_found = {(k, r, int(i)) for k, r, i in zip(m["key"], m["rule"], m["entry_id"])}
    sub_keys = set(sub["key"])
    fast_sub = {x for x in fast_found if x[0] in sub_keys}
    agree = fast_sub == slow_found
    print(f"naive loop: {slow:.1f}s for {len(sub):,} rows -> {extrapolated:.0f}s extrapolated to {len(manifest):,}")
    print(f"speed-up ×{extrapolated / fast:.0f}; same matches on the subsample: {agree} ({len(slow_found)} vs {len(fast_sub)})")
    print(
        json.dumps(
            {
                "stages_wall_cpu_s": stages,
                "rows": len(manifest),
                "entries": len(reg),
                "vectorised_s": round(fast, 2),
                "vectorised_cpu_s": round(cpu, 2),
                "load": round(os.getloadavg()[0], 1),
                "naive_rows": len(sub),
                "naive_s": round(slow, 2),
                "naive_extrapolated_s": round(extrapolated),
                "ratio": round(extrapolated / fast, 1),
                "agree": agree,
                "cpus": os.cpu_count(),
            }
        )
    )


if __name__ == "__main__":
    main()

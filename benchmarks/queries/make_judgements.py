"""Apply the hand-written relevance rules (query_specs.json) and eye-check corrections (eye_checks.json) to the
reference set's metadata; write reference_queries.json (query -> {key: grade}). See README.md for the method.

    python benchmarks/queries/make_judgements.py [--dataset data/reference]

The rules read the openclipart folder path, the drawing's title/file name and its keyword list, with
synonyms and exclusions per query: NOT the caption text with stemming and BM25 that the keyword ranker uses.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import pandas as pd

HERE = Path(__file__).parent
ROOT = HERE.parent.parent


def _word_re(terms: list[str]) -> re.Pattern | None:
    if not terms:
        return None
    alts = "|".join(re.escape(t.lower()) for t in sorted(terms, key=len, reverse=True))
    return re.compile(rf"(?<![a-z0-9])(?:{alts})(?:s|es)?(?![a-z0-9])")


def _fields(row: pd.Series) -> dict[str, object]:
    src = str(row.get("source") or "")
    svg = src.split("/svg/", 1)[1] if "/svg/" in src else ""
    parts = svg.split("/")
    folders = parts[:-1]
    stem = re.sub(r"[_\-.]+", " ", parts[-1].rsplit(".", 1)[0]) if svg else ""
    title = str(row.get("title") or "") if row.get("title") == row.get("title") else ""
    kw = str(row.get("keywords") or "") if row.get("keywords") == row.get("keywords") else ""
    return {"folders": folders, "path": svg.lower(), "name": f"{title} {stem}".lower().replace("_", " "),
            "keywords": kw.lower()}


def judge(df: pd.DataFrame, spec: dict, eye: dict[str, dict[str, int]]) -> dict[str, int]:
    """{key: grade} for one query (only grades > 0 kept). 2: shows the subject; 1: shows it in part."""
    pat = _word_re(spec.get("terms", []))
    folders = set(spec.get("folders", []))
    half = set(spec.get("half_folders", []))
    excl = [e.lower() for e in spec.get("exclude", [])]
    under = spec.get("only_under")
    out: dict[str, int] = {}
    for _, row in df.iterrows():
        key = str(row["key"])
        f = _fields(row)
        grade = 0
        if spec.get("person_photos") and key.startswith("people-"):
            grade = int(spec["person_photos"])
        if folders & set(f["folders"]) or (pat and pat.search(f["name"])):
            grade = 2
        elif half & set(f["folders"]) or (pat and pat.search(f["keywords"])):
            grade = max(grade, 1)
        if grade and any(e in f["path"] or e in f["name"] or e in f["keywords"] for e in excl):
            grade = 0
        if grade and under and not any(f["path"].startswith(u.lower()) for u in under):
            grade = 0
        grade = int(eye.get(key, grade))
        if grade > 0:
            out[key] = grade
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default=str(ROOT / "data" / "reference"))
    args = ap.parse_args()
    import sys

    sys.path.insert(0, str(ROOT))
    from audit.embed.pairs import is_heldout
    from audit.records import manifest_hash, read_manifest

    df = read_manifest(args.dataset)
    specs = json.loads((HERE / "query_specs.json").read_text())["queries"]
    eye = json.loads((HERE / "eye_checks.json").read_text())
    queries = []
    for spec in specs:
        corrections = {k: int(v) for k, v in (eye.get("corrections", {}).get(spec["q"], {})).items()}
        rel = judge(df, spec, corrections)
        queries.append({"query": spec["q"], "relevant": dict(sorted(rel.items()))})
    out = {
        "dataset": "data/reference", "manifest_hash": manifest_hash(df), "items": len(df),
        "grades": {"2": "shows the subject", "1": "shows it in part or as a minor element"},
        "heldout_keys": sorted(k for k in df["key"].astype(str) if is_heldout(k)),
        "queries": queries,
    }
    (HERE / "reference_queries.json").write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n")
    empty = [q["query"] for q in queries if not q["relevant"]]
    print(f"{len(queries)} queries, {sum(len(q['relevant']) for q in queries)} judgements; no relevant item: {empty}")


if __name__ == "__main__":
    main()

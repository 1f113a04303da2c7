"""End-to-end runs of `audit experiments duplication|optout` at a tiny budget (real generator, real CLIP,
real faiss index, real memorisation scan). They check the pipeline and the bookkeeping, not that a
few training steps memorise anything."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from audit.cli import main
from audit.records import read_manifest

TINY = ["--steps", "4", "--batch", "4", "--synthetic", "12", "--n", "2", "--sample-steps", "2", "--preset", "tiny",
        "--baseline-sample", "4"]
ARTIST = "Nicu Buculei"


def test_duplication_runs_end_to_end(tmp_path, capsys):
    out = tmp_path / "dup"
    rc = main(["experiments", "duplication", "--out", str(out), "--levels", "1,3", "--items", "1", *TINY])
    assert rc == 0
    for f in ("results.parquet", "summary.json", "report.html", "meta.json", "samples_scored.parquet",
              "scan/matches.parquet", "model/meta.json", "index/meta.json", "dataset/manifest.parquet"):
        assert (out / f).is_file(), f
    table = pd.read_parquet(out / "results.parquet")
    assert list(table["level"]) == [1, 3]
    assert list(table["items"]) == [1, 1] and list(table["samples"]) == [2, 2]
    for col in ("copy_rate", "flagged_rate"):
        assert table[col].between(0, 1).all()
    assert (table["median_best_rms"] >= 0).all() and (table["median_best_rms"] <= 1).all()
    summary = json.loads((out / "summary.json").read_text())
    levels = summary["item_levels"]
    assert sorted(levels.values()) == [1, 3] and len(set(levels)) == 2  # each level has its own item
    model_meta = json.loads((out / "model" / "meta.json").read_text())
    dup_key = next(k for k, v in levels.items() if v == 3)
    assert model_meta["training"]["duplication"] == {dup_key: 3}  # one model, the ×3 item duplicated
    assert model_meta["steps"] == 4 == summary["train_steps"]
    keys = set(read_manifest(out / "dataset")["key"])
    assert set(levels) <= keys and len(keys) == 12 + 2
    scored = pd.read_parquet(out / "samples_scored.parquet")
    assert set(scored["item_key"]) == set(levels)
    assert scored["copy_of_item"].dtype == bool
    meta = json.loads((out / "meta.json").read_text())
    assert meta["kind"] == "experiment-duplication" and "one model" in meta["why_one_model"]
    assert meta["settings"]["levels"] == [1, 3] and meta["seed"] == 0
    html = (out / "report.html").read_text()
    assert "data:image/png;base64," in html and "<table" in html
    assert "copy_rate" in capsys.readouterr().out


def test_optout_runs_both_arms_and_records_exclusion(tmp_path):
    out = tmp_path / "opt"
    rc = main(["experiments", "optout", "--artist", ARTIST, "--out", str(out), "--works", "2", "--others", "1",
               "--duplicate", "2", *TINY])
    assert rc == 0
    table = pd.read_parquet(out / "results.parquet")
    assert list(table["arm"]) == ["with_artist", "without_artist"]
    assert list(table["samples"]) == [4, 4]
    for col in ("copy_rate", "artist_match_rate"):
        assert table[col].between(0, 1).all()
    assert table["median_best_clip_cosine"].between(-1, 1).all()
    assert table["median_best_ssim"].between(-1, 1).all() and (table["median_best_rms"] >= 0).all()
    summary = json.loads((out / "summary.json").read_text())
    works = summary["works"]
    man = read_manifest(out / "dataset").set_index("key")
    assert len(works) == 2 and all(man.loc[k, "author"] == ARTIST for k in works)
    arms = summary["arms"]
    assert sorted(arms["without_artist"]["excluded_keys"]) == sorted(works)
    assert arms["with_artist"]["excluded_keys"] == []
    assert arms["with_artist"]["duplication"] == {k: 2 for k in works}
    assert arms["without_artist"]["duplication"] == {}
    assert "--exclude-author" in arms["without_artist"]["train_command"]
    for arm in ("with_artist", "without_artist"):
        assert (out / arm / "scan" / "matches.parquet").is_file()
    assert (out / "meta.json").is_file() and "data:image/png;base64," in (out / "report.html").read_text()


@pytest.mark.parametrize("argv, needle", [
    (["duplication", "--levels", "1,1", "--steps", "1"], "--levels"),
    (["duplication", "--levels", "1,x", "--steps", "1"], "--levels"),
    (["duplication", "--levels", "1,10"], "--steps"),
    (["optout", "--artist", "Nobody At All", "--steps", "1"], "Nobody At All"),
])
def test_bad_input_is_one_line_error(tmp_path, capsys, argv, needle):
    rc = main(["experiments", *argv, "--out", str(tmp_path / "x")])
    assert rc == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and needle in err and "Traceback" not in err
    assert not (tmp_path / "x" / "model").exists()


def test_erasure_runs_before_and_after(tmp_path, capsys):
    from audit import config
    from audit.experiments.trainset import build_experiment_set, pick_real_items

    works = pick_real_items(config.REFERENCE_DIR, 2, 0, author=ARTIST)
    ds = build_experiment_set(tmp_path / "ds", works, 12, 0, config.REFERENCE_DIR)
    keys = sorted(works["key"].astype(str))
    kept = sorted(set(read_manifest(ds)["key"].astype(str)) - set(keys))[0]  # a synthetic item nobody erases
    prompts = [str(c).strip() for c in works["caption"]]
    out = tmp_path / "erase"
    argv = ["experiments", "erasure", "--dataset", str(ds), "--keys", keys[0], "--keys", keys[1],
            "--duplicate", f"{keys[0]}=3", "--duplicate", f"{kept}=2",
            "--prompt", prompts[0], "--prompt", prompts[1], "--out", str(out), "--steps", "4", "--batch", "4",
            "--n", "2", "--sample-steps", "2", "--preset", "tiny", "--baseline-sample", "4"]
    assert main(argv) == 0
    for f in ("results.parquet", "summary.json", "report.html", "meta.json", "samples_scored.parquet",
              "before/scan/matches.parquet", "after/scan/matches.parquet", "index/meta.json"):
        assert (out / f).is_file(), f
    assert not list(out.glob(".erased-*"))  # the erased items' temporary copy is gone
    table = pd.read_parquet(out / "results.parquet")
    assert list(table["arm"]) == ["before", "after"] and list(table["samples"]) == [4, 4]
    assert table["copy_rate"].between(0, 1).all() and (table["best_rms"] >= 0).all()
    verdicts = [c for c in table.columns if c.startswith("verdict_")]
    assert verdicts and (table[verdicts].sum(axis=1) == 4).all()
    after = json.loads((out / "after" / "model" / "meta.json").read_text())["training"]
    before = json.loads((out / "before" / "model" / "meta.json").read_text())["training"]
    assert after["excluded_keys"] == keys and after["exclude_keys"] == keys and before["excluded_keys"] == []
    assert after["items"] == before["items"] - 2 == 12
    assert "--exclude-key" in after["train_command"]
    # "before" sees the erased item ×3 (a photo copied across the web); "after" keeps only the kept item's factor
    assert before["duplication"] == {keys[0]: 3, kept: 2} and after["duplication"] == {kept: 2}
    assert f"--duplicate {keys[0]}=3" in before["train_command"]
    assert f"--duplicate {keys[0]}=" not in after["train_command"] and f"--duplicate {kept}=2" in after["train_command"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["keys"] == keys and summary["arms"]["after"]["excluded_keys"] == keys
    assert summary["duplicates"] == {"before": {keys[0]: 3, kept: 2}, "after": {kept: 2}}
    meta = json.loads((out / "meta.json").read_text())
    assert meta["duplicates"] == summary["duplicates"] and meta["settings"]["duplicates"] == {keys[0]: 3, kept: 2}
    assert "data:image/png;base64," in (out / "report.html").read_text()

    rc = main(["experiments", "erasure", "--dataset", str(ds), "--keys", f"{keys[0]},no_such_key",
               "--prompt", prompts[0], "--out", str(tmp_path / "bad"), "--steps", "1"])
    assert rc == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "no_such_key" in err and "Traceback" not in err
    assert not (tmp_path / "bad" / "before").exists()

    for spec, needle in (("no_such_key=3", "no_such_key"), (f"{keys[0]}=0", "at least 1"), (keys[0], "KEY=N")):
        rc = main(["experiments", "erasure", "--dataset", str(ds), "--keys", keys[0], "--duplicate", spec,
                   "--prompt", prompts[0], "--out", str(tmp_path / "bad2"), "--steps", "1"])
        assert rc == 2
        err = capsys.readouterr().err
        assert err.startswith("error:") and needle in err and "Traceback" not in err, err
        assert not (tmp_path / "bad2" / "before").exists()

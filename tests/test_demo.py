"""`audit demo` end to end on the shipped defaults: the README's first command must keep working."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from audit.cli import main


def test_demo_runs_end_to_end_and_reuses_the_index(tmp_path: Path, capsys) -> None:
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out)]) == 0
    summary = (out / "summary.md").read_text()
    for section in ("Training-set index", "Sample searches", "Self-query check", "Reference generator samples",
                    "Memorisation scan", "C2PA Content Credentials", "Opt-out check", "Dataset card", "Durable credentials",
                    "GDPR erasure request"):
        assert section in summary, section
    assert "score 1.000000" in summary  # an indexed image finds itself exactly
    matches = pd.read_parquet(out / "memorisation" / "matches.parquet")
    assert len(matches) == 10
    # The shipped generator saw the cat photo x100: its samples must be flagged as copies of it.
    cat = matches[matches["query_path"].str.contains("p000_")]
    assert (cat["verdict"] == "copy").any() and set(cat["match_key"]) == {"ref_chelsea"}
    assert "{'Trusted': 10}" in summary
    assert (out / "optout-matches.parquet").is_file()
    assert (out / "card" / "card.html").is_file()
    # Durable: the JPEG re-encode lost its manifest, the watermark brought the signed one back, still Trusted.
    assert "the file's own manifest: NoManifest" in summary
    assert "recovered=True by watermark" in summary and "stored manifest Trusted" in summary
    # GDPR: the subject's resized JPEG is located, erased, and then refused as a re-ingest; the generator is listed.
    assert "confirmed `ref_hopper`" in summary and "state `index_rebuilt`" in summary
    assert "re-ingesting the photo is refused: perceptual hash" in summary
    assert "generator: trained on manifest" in summary and "intact" in summary
    assert "residuals after erasure:" in summary and "keyed chain:" in summary and "FAILED" not in summary
    index_meta = (out / "index" / "meta.json").stat().st_mtime_ns
    assert main(["demo", "--out", str(out)]) == 0  # re-run: the index is reused, not rebuilt
    assert (out / "index" / "meta.json").stat().st_mtime_ns == index_meta
    assert "audit app" in capsys.readouterr().out


def test_demo_index_follows_a_changed_dataset(tmp_path: Path) -> None:
    """The demo owns its index: when the dataset changes it is rebuilt, not refused."""
    import shutil

    from audit.dataset.ingest import ingest
    from audit.demo import DemoContext, step_index
    from audit.index import open_index

    images = sorted((Path(__file__).parent / "data" / "images").glob("oc_*.png"))
    for name, n in (("a", 4), ("b", 6)):
        src = tmp_path / f"src_{name}"
        src.mkdir()
        for p in images[:n]:
            shutil.copy(p, src / p.name)
        ingest(src, tmp_path / name)
    ctx = DemoContext(out=tmp_path / "demo", dataset=tmp_path / "a", model="genaudit-tiny-clip@random:0",
                      device="cpu", seed=0, log=print)
    step_index(ctx)
    assert open_index(ctx.index_dir).count == 4
    ctx.dataset = tmp_path / "b"
    step_index(ctx)
    assert open_index(ctx.index_dir).count == 6

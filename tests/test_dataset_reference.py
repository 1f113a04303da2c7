"""`audit dataset build-reference`: people photos from installed packages (fast), Debian sources (slow)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from audit.cli import main
from audit.records import read_manifest


def test_people_source_needs_no_network(tmp_path: Path, capsys) -> None:
    out = tmp_path / "ref"
    assert main(["dataset", "build-reference", "--out", str(out), "--sources", "people", "--max-side", "64"]) == 0
    df = read_manifest(out).set_index("key")
    assert set(df["person"]) == {"Eileen Collins", "Grace Hopper"}
    assert set(df["license"]) == {"public-domain"}
    assert df.loc["people-astronaut-eileen-collins", "source"].startswith("pypi:scikit-image=")
    assert (df[["width", "height"]].max(axis=1) == 64).all()
    meta = json.loads((out / "meta.json").read_text())
    assert {s["package"] for s in meta["sources"]} == {"scikit-image", "matplotlib"}
    capsys.readouterr()
    assert main(["dataset", "build-reference", "--out", str(out), "--sources", "people", "--max-side", "64"]) == 0
    assert "up to date" in capsys.readouterr().out


def test_clear_error_without_apt(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no apt-get, no dpkg
    code = main(["dataset", "build-reference", "--out", str(tmp_path / "ref"), "--sources", "openclipart",
                 "--limit", "5"])
    err = capsys.readouterr().err
    assert code == 2 and "apt-get" in err and "audit dataset ingest" in err and "Traceback" not in err
    assert main(["dataset", "build-reference", "--out", str(tmp_path / "ref"), "--sources", "paintings"]) == 2
    assert "unknown source(s) paintings" in capsys.readouterr().err


@pytest.mark.slow
def test_build_reference_from_debian_packages(tmp_path: Path, capsys) -> None:
    out = tmp_path / "ref"
    args = ["dataset", "build-reference", "--out", str(out), "--limit", "30", "--max-side", "64"]
    assert main(args) == 0
    df = read_manifest(out)
    oc = df[df["source"].str.startswith("debian:openclipart-svg=")]
    wp = df[df["key"].str.startswith("wp-")]
    assert len(oc) == 30 and oc["category"].nunique() >= 15 and oc["author"].notna().all()
    assert len(wp) >= 30 and wp["license"].isin(["GPL-2+", "CC-BY-SA-3.0", "CC-BY-SA-4.0"]).all()
    fossa = df.set_index("key").loc["wp-lomiri-fossa-by-jasper-roks"]
    assert fossa["author"] == "Jasper Roks" and fossa["license"] == "CC-BY-SA-3.0"
    meta = json.loads((out / "meta.json").read_text())
    assert {s["package"] for s in meta["sources"]} >= {"openclipart-svg", "mate-backgrounds", "lomiri-wallpapers-20.04"}
    assert all(len(s["sha256"]) == 64 for s in meta["sources"])
    capsys.readouterr()
    assert main(args) == 0 and "up to date" in capsys.readouterr().out

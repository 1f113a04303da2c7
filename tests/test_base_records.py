"""Manifest schema, atomic writes and meta sidecars: the contracts every artefact relies on."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from audit.atomic import atomic_dir, atomic_path, write_json
from audit.errors import ArtefactError, ManifestError
from audit.meta import make_meta, read_meta, sha256_file, write_meta
from audit.records import (
    REQUIRED_COLUMNS,
    manifest_hash,
    read_manifest,
    resolve_paths,
    write_manifest,
)


def _rows(n: int = 3) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "key": [f"k{i}" for i in range(n)],
            "path": [f"images/k{i}.jpg" for i in range(n)],
            "url": [None] * n,
            "caption": [f"caption {i}" for i in range(n)],
            "width": [10] * n,
            "height": [12] * n,
            "sha256": [f"{i:064x}" for i in range(n)],
            "phash": ["0" * 16] * n,
            "author": ["A"] * n,
            "license": ["CC0"] * n,
            "source": ["test"] * n,
            "category": ["x"] * n,
        }
    )


def test_manifest_round_trip_keeps_extra_columns(tmp_path: Path) -> None:
    write_manifest(_rows(), tmp_path)
    df = read_manifest(tmp_path)
    assert list(df.columns[: len(REQUIRED_COLUMNS)]) == list(REQUIRED_COLUMNS)
    assert df["category"].tolist() == ["x", "x", "x"]
    assert int(df["width"].iloc[0]) == 10
    assert resolve_paths(df, tmp_path)[0] == tmp_path / "images/k0.jpg"


def test_manifest_missing_column_names_it(tmp_path: Path) -> None:
    bad = _rows().drop(columns=["caption", "sha256"])
    bad.to_parquet(tmp_path / "manifest.parquet")
    with pytest.raises(ManifestError) as exc:
        read_manifest(tmp_path)
    assert "caption" in str(exc.value) and "sha256" in str(exc.value)


def test_manifest_duplicate_keys_refused(tmp_path: Path) -> None:
    df = _rows()
    df.loc[2, "key"] = "k0"
    with pytest.raises(ManifestError, match="duplicate key"):
        write_manifest(df, tmp_path)
    assert not (tmp_path / "manifest.parquet").exists()


def test_manifest_not_parquet(tmp_path: Path) -> None:
    (tmp_path / "manifest.parquet").write_text("not parquet")
    with pytest.raises(ManifestError, match="not a readable parquet"):
        read_manifest(tmp_path)


def test_manifest_hash_changes_with_content() -> None:
    a, b = _rows(), _rows()
    assert manifest_hash(a) == manifest_hash(b)
    b.loc[1, "sha256"] = "f" * 64
    assert manifest_hash(a) != manifest_hash(b)


def test_atomic_path_keeps_old_file_on_failure(tmp_path: Path) -> None:
    dest = tmp_path / "x.txt"
    dest.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(dest) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash")
    assert dest.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.txt"]


def test_atomic_dir_replaces_whole_or_nothing(tmp_path: Path) -> None:
    dest = tmp_path / "artefact"
    with atomic_dir(dest) as d:
        (d / "a").write_text("1")
    with pytest.raises(RuntimeError):
        with atomic_dir(dest) as d:
            (d / "b").write_text("2")
            raise RuntimeError("crash")
    assert sorted(p.name for p in dest.iterdir()) == ["a"]
    with atomic_dir(dest) as d:
        (d / "c").write_text("3")
    assert sorted(p.name for p in dest.iterdir()) == ["c"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["artefact"]


def test_meta_round_trip_and_kind_check(tmp_path: Path) -> None:
    write_meta(tmp_path, make_meta("index", count=3, seed=0))
    meta = read_meta(tmp_path, kind="index")
    assert meta["count"] == 3 and "torch" in meta["versions"] and meta["versions"]["genaudit"]
    with pytest.raises(ArtefactError, match="expected 'dataset'"):
        read_meta(tmp_path, kind="dataset")


def test_meta_from_future_version_refused(tmp_path: Path) -> None:
    write_json(tmp_path / "meta.json", {"kind": "index", "format_version": 99})
    with pytest.raises(ArtefactError, match="newer genaudit"):
        read_meta(tmp_path)


def test_meta_missing_or_corrupt(tmp_path: Path) -> None:
    with pytest.raises(ArtefactError, match="missing"):
        read_meta(tmp_path)
    (tmp_path / "meta.json").write_text("{nope")
    with pytest.raises(ArtefactError, match="not valid JSON"):
        read_meta(tmp_path)


def test_sha256_file(tmp_path: Path) -> None:
    p = tmp_path / "f"
    p.write_bytes(b"abc")
    assert sha256_file(p) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert json.loads((write_meta(tmp_path, make_meta("x")).read_text()))["kind"] == "x"


def test_atomic_outputs_get_normal_permissions(tmp_path: Path) -> None:
    import os

    old = os.umask(0o022)
    try:
        write_json(tmp_path / "m.json", {"a": 1})
        with atomic_dir(tmp_path / "d") as d:
            (d / "x").write_text("1")
    finally:
        os.umask(old)
    assert (tmp_path / "m.json").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "d").stat().st_mode & 0o777 == 0o755

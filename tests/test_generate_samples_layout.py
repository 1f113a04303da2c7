"""audit.generate.samples_layout owns a samples dir: names, the replace check, and the readers (real parquet files)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from audit.errors import ArtefactError
from audit.generate import samples_layout as sl
from audit.meta import make_meta, write_meta


def _samples_dir(d: Path, rows: list[dict]) -> Path:
    d.mkdir(parents=True)
    for r in rows:
        Image.new("RGB", (8, 8)).save(d / r["path"])
    pd.DataFrame(rows).to_parquet(sl.table_path(d), index=False)
    write_meta(d, make_meta(sl.KIND, count=len(rows)))
    return d


def test_names_sort_by_prompt_then_seed(tmp_path: Path) -> None:
    names = [sl.image_name(p, i) for p in (1, 0) for i in (10, 2)]
    d = _samples_dir(tmp_path / "s", [{"path": n, "prompt": "x", "seed": 0} for n in names])
    assert [p.name for p in sl.sample_images(d)] == ["p000_002.png", "p000_010.png", "p001_002.png", "p001_010.png"]
    assert sl.is_samples_dir(d) and not sl.is_samples_dir(tmp_path) and not sl.is_samples_dir(tmp_path / "absent")
    write_meta(tmp_path, make_meta("dataset"))
    assert not sl.is_samples_dir(tmp_path)


def test_native_sizes_only_for_recorded_upscales(tmp_path: Path) -> None:
    d = _samples_dir(tmp_path / "s", [
        {"path": "p000_000.png", "prompt": "a", "seed": 0, "upscaled_from": "32x32"},
        {"path": "p000_001.png", "prompt": "a", "seed": 1, "upscaled_from": None},
        {"path": "p000_002.png", "prompt": "a", "seed": 2, "upscaled_from": "garbage"},
    ])
    assert sl.native_sizes(d) == {"p000_000.png": (32, 32)}
    old = _samples_dir(tmp_path / "old", [{"path": "p000_000.png", "prompt": "a", "seed": 0}])  # before the column
    assert sl.native_sizes(old) == {} and sl.native_sizes(tmp_path / "none") == {}
    assert list(sl.read_samples_table(d, ["path", "seed"])["seed"]) == [0, 1, 2]


def test_missing_or_damaged_table_is_an_artefact_error(tmp_path: Path) -> None:
    with pytest.raises(ArtefactError, match="missing"):
        sl.read_samples_table(tmp_path)
    sl.table_path(tmp_path).write_bytes(b"not parquet")
    with pytest.raises(ArtefactError, match="not readable"):
        sl.read_samples_table(tmp_path)
    assert sl.native_sizes(tmp_path) == {}

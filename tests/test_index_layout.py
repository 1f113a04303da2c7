"""audit.index.layout owns an index dir: its file names, its change token, its readers — and nobody else spells
those names (real index built from real images with the random-init tiny CLIP)."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import numpy as np
import pytest

from audit.errors import ArtefactError
from audit.index import layout

IMAGES = Path(__file__).parent / "data" / "images"
MODEL = "genaudit-tiny-clip@random:0"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture()
def index_dir(tiny_index: Path) -> Path:
    return tiny_index


def test_change_token_moves_on_rebuild_and_on_denylist_separately(index_dir: Path, tmp_path: Path) -> None:
    from audit.index import add_to_denylist, build_index

    idx = tmp_path / "index"
    shutil.copytree(index_dir, idx)
    before = layout.change_token(idx)
    assert layout.change_token(idx) == before and str(layout.change_token(idx)) == str(before)  # nothing changed

    add_to_denylist(idx, ["oc_lemon"], reason="test")
    hidden = layout.change_token(idx)
    assert hidden.core == before.core and hidden.denylist != before.denylist  # re-read the denylist, not reopen
    assert str(hidden) != str(before)

    build_index(layout.dataset_dir(idx), idx, model=MODEL, overwrite=True)  # an erasure's rebuild replaces the files
    rebuilt = layout.change_token(idx)
    assert rebuilt.core != hidden.core and str(rebuilt) != str(hidden)
    assert (idx / layout.DENYLIST_NAME).is_file()  # the denylist survives the rebuild


def test_readers_agree_with_meta(index_dir: Path) -> None:
    meta = layout.read_index_meta(index_dir)
    ids = layout.read_ids(index_dir)
    assert len(ids) == meta["count"] == 4 and list(ids["id"]) == sorted(ids["id"])
    vectors = layout.open_vectors(index_dir)
    assert vectors.shape == (meta["count"], meta["dim"]) and isinstance(vectors, np.memmap)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    hashes = layout.read_hashes(index_dir, ["id", "phash", "dhash"])
    assert list(hashes["id"]) == list(ids["id"])
    assert layout.missing_files(index_dir, layout.BUILD_FILES) == []
    assert layout.is_index_dir(index_dir) and not layout.is_index_dir(layout.dataset_dir(index_dir))
    assert not layout.is_index_dir(index_dir / layout.IDS_NAME)  # a file is never an index dir


def test_damaged_or_missing_files_are_artefact_errors(index_dir: Path, tmp_path: Path) -> None:
    idx = tmp_path / "index"
    shutil.copytree(index_dir, idx)
    (idx / layout.IDS_NAME).write_bytes(b"not parquet")
    with pytest.raises(ArtefactError, match="corrupt") as e:
        layout.read_ids(idx)
    assert "audit index build --overwrite" in e.value.hint
    (idx / layout.HASHES_NAME).unlink()
    assert layout.read_hashes(idx) is None and not layout.has_hashes(idx)
    (idx / layout.VECTORS_NAME).unlink()
    with pytest.raises(ArtefactError, match="missing"):
        layout.open_vectors(idx)
    assert layout.missing_files(idx, layout.BUILD_FILES) == [layout.VECTORS_NAME, layout.HASHES_NAME]


def _string_constants(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [(n.lineno, n.value) for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def test_only_the_owners_spell_index_and_samples_file_names() -> None:
    """A path built from a literal index/samples file name outside its owner is a second owner: use the layout."""
    from audit.generate import samples_layout

    owned = {
        layout.FAISS_NAME: "audit/index/layout.py", layout.VECTORS_NAME: "audit/index/layout.py",
        layout.IDS_NAME: "audit/index/layout.py", layout.HASHES_NAME: "audit/index/layout.py",
        layout.DENYLIST_NAME: "audit/index/layout.py", layout.VECTORS_WORK_NAME: "audit/index/layout.py",
        samples_layout.SAMPLES_NAME: "audit/generate/samples_layout.py",
    }
    offenders = []
    for path in sorted([*(ROOT / "audit").rglob("*.py"), *(ROOT / "app").rglob("*.py")]):
        rel = path.relative_to(ROOT).as_posix()
        for line, value in _string_constants(path):
            if value in owned and owned[value] != rel:
                offenders.append(f"{rel}:{line}: {value!r} (owner: {owned[value]})")
    assert offenders == []

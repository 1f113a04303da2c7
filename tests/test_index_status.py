"""audit.index.status: is a directory a usable index (and why not), which indices are near, which is the default."""

from __future__ import annotations

from pathlib import Path

from audit.index import status
from audit.meta import make_meta, write_meta


def _index_dir(path: Path, count: int = 3, model: str = "genaudit-tiny-clip@random:0") -> Path:
    """A directory with the files index_status looks for (their contents are not read by it)."""
    path.mkdir(parents=True, exist_ok=True)
    write_meta(path, make_meta("index", count=count, model=model, dim=128))
    (path / "vectors.faiss").write_bytes(b"x" * 16)
    (path / "ids.parquet").write_bytes(b"y" * 16)
    return path


def test_default_index_dir_env_then_demo() -> None:
    assert status.default_index_dir({}) == Path("demo") / "index"
    assert status.default_index_dir({"GENAUDIT_INDEX": "  "}) == Path("demo") / "index"
    assert status.default_index_dir({"GENAUDIT_INDEX": "/data/idx"}) == Path("/data/idx")


def test_index_status_explains_each_unusable_case(tmp_path: Path) -> None:
    missing = status.index_status(tmp_path / "nope")
    assert not missing.ready and "No index at" in missing.message and str(tmp_path / "nope") in missing.message
    assert "audit demo" in missing.hint and "audit index build" in missing.hint

    assert not status.index_status("").ready
    assert not status.index_status(None).ready

    f = tmp_path / "file.txt"
    f.write_text("hi")
    assert "is a file" in status.index_status(f).message

    empty = tmp_path / "empty"
    empty.mkdir()
    st = status.index_status(empty)
    assert not st.ready and "meta.json" in st.message

    ds = tmp_path / "dataset"
    ds.mkdir()
    write_meta(ds, make_meta("dataset"))
    st = status.index_status(ds)
    assert not st.ready and "'dataset'" in st.message

    partial = tmp_path / "partial"
    partial.mkdir()
    write_meta(partial, make_meta("index", count=1, model="m"))
    (partial / "ids.parquet").write_bytes(b"y")
    st = status.index_status(partial)
    assert not st.ready and "vectors.faiss" in st.message and "ids.parquet" not in st.message


def test_index_status_ready_and_token_changes_on_rebuild(tmp_path: Path) -> None:
    idx = _index_dir(tmp_path / "idx", count=7, model="tiny")
    st = status.index_status(idx)
    assert st.ready and st.count == 7 and st.model == "tiny"
    assert "7 images" in st.summary and "tiny" in st.summary
    (idx / "vectors.faiss").write_bytes(b"z" * 32)  # a rebuild rewrites the vectors
    rebuilt = status.index_status(idx)
    assert rebuilt.token != st.token
    (idx / "denylist.parquet").write_bytes(b"d")  # a removal request denylists an item
    assert status.index_status(idx).token != rebuilt.token
    assert status.index_status(str(idx) + "  ").ready  # pasted paths with trailing blanks


def test_discover_indices_walks_dirs_but_skips_images_hidden_and_deep(tmp_path: Path) -> None:
    a = _index_dir(tmp_path / "demo" / "index")
    b = _index_dir(tmp_path / "b")
    _index_dir(tmp_path / "ds" / "images" / "idx")  # inside an images/ folder: not walked
    _index_dir(tmp_path / ".hidden" / "idx")
    _index_dir(tmp_path / "x" / "y" / "z")  # depth 3
    found = status.discover_indices([tmp_path / "demo", tmp_path, tmp_path / "absent"])
    assert found == [a, b]
    assert status.discover_indices([tmp_path], max_depth=3)[-1] == tmp_path / "x" / "y" / "z"

"""`audit index build|info|deny` and `audit search`: exit codes, outputs and one-line errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from audit.cli import main

DATA = Path(__file__).parent / "data"
IMAGES = DATA / "images"
MODEL = "genaudit-tiny-clip@random:0"


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "index"
    assert main(["index", "build", str(IMAGES), "--out", str(out), "--model", MODEL]) == 0
    return out


def _error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.startswith("error: ")
    return err.splitlines()[0]


def test_build_twice_is_up_to_date(index_dir, capsys):
    capsys.readouterr()
    assert main(["index", "build", str(IMAGES), "--out", str(index_dir), "--model", MODEL]) == 0
    assert capsys.readouterr().out.startswith("up to date:")


def test_info(index_dir, capsys):
    assert main(["index", "info", str(index_dir)]) == 0
    out = capsys.readouterr().out
    assert MODEL in out and "IDMap2,Flat" in out and "denylisted  0" in out
    assert main(["index", "info", str(index_dir), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["kind"] == "index"


def test_search_text_json_and_parquet(index_dir, tmp_path, capsys):
    out = tmp_path / "results.parquet"
    assert main(["search", "--index", str(index_dir), "--text", "a lemon", "-k", "3", "--json", "--out", str(out)]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [h["rank"] for h in lines] == [1, 2, 3] and all(h["caption"] for h in lines)
    df = pd.read_parquet(out)
    assert list(df["key"]) == [h["key"] for h in lines] and "score" in df.columns


def test_search_image_table_and_near_duplicates(index_dir, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    assert main(["search", "--index", str(index_dir), "--image", str(IMAGES / "wp_Storm.jpg"), "-k", "2"]) == 0
    out = capsys.readouterr().out
    assert "wp_Storm" in out and "1.0000" in out and "caption" in out
    assert main(["search", "--index", str(index_dir), "--image", str(IMAGES / "wp_Storm.jpg"), "--near-duplicates",
                 "--json"]) == 0
    first = json.loads(capsys.readouterr().out.splitlines()[0])
    assert first["key"] == "wp_Storm" and first["method"] == "phash" and first["distance"] == 0


def test_deny_hides_from_search(index_dir, tmp_path, capsys):
    copy = tmp_path / "index"
    shutil.copytree(index_dir, copy)
    assert main(["index", "deny", str(copy), "wp_Storm", "--reason", "request-7"]) == 0
    assert main(["search", "--index", str(copy), "--image", str(IMAGES / "wp_Storm.jpg"), "-k", "5", "--json"]) == 0
    keys = [json.loads(x)["key"] for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    assert len(keys) == 5 and "wp_Storm" not in keys


@pytest.mark.parametrize("args, fragment", [
    (["--text", "x", "-k", "0"], "-k must be positive"),
    (["--text", "x", "--image", str(IMAGES / "wp_Storm.jpg")], "exactly one"),
    (["--image", str(DATA / "bad" / "notes.jpg")], "not a supported image format"),
    (["--image", str(DATA / "bad" / "missing.png")], "file not found"),
    (["--text", "x", "--model", "genaudit-tiny-clip@random:1"], "was built with model"),
])
def test_search_bad_input_one_line(index_dir, capsys, args, fragment):
    assert main(["search", "--index", str(index_dir), *args]) == 2
    assert fragment in _error_line(capsys)


def test_missing_and_corrupt_index(index_dir, tmp_path, capsys):
    assert main(["search", "--index", str(tmp_path / "nope"), "--text", "x"]) == 2
    assert "does not exist" in _error_line(capsys)
    assert main(["index", "info", str(tmp_path / "nope")]) == 2
    _error_line(capsys)
    copy = tmp_path / "index"
    shutil.copytree(index_dir, copy)
    data = (copy / "vectors.npy").read_bytes()
    (copy / "vectors.npy").write_bytes(data[: len(data) // 2])
    assert main(["search", "--index", str(copy), "--text", "x"]) == 2
    assert "vectors.npy" in _error_line(capsys)


def test_build_bad_source(tmp_path, capsys):
    assert main(["index", "build", str(tmp_path / "nothing"), "--out", str(tmp_path / "i"), "--model", MODEL]) == 2
    assert "does not exist" in _error_line(capsys)
    (tmp_path / "notes.txt").write_text("x")
    assert main(["index", "build", str(tmp_path / "notes.txt"), "--out", str(tmp_path / "i"), "--model", MODEL]) == 2
    assert "not a manifest" in _error_line(capsys)

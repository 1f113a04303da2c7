"""`audit optout` end to end through audit.cli.main: registry, check, filter, lookup, signals, errors."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from audit.cli import main
from audit.records import read_manifest, resolve_paths, write_manifest

D = Path(__file__).parent / "data" / "optout"


@pytest.fixture()
def dataset(tmp_path):
    ds = tmp_path / "ds"
    (ds / "images").mkdir(parents=True)
    rows = []
    specs = [("a", "https://janedoe.example/img/hero.jpg", "hero image", "Jane Doe"),
             ("b", "https://cdn.artist-portfolio.example/x.png", "a sunset", "Someone"),
             ("c", "https://free.example/c.jpg", "Water lilies, after Claude Monet", "Anon"),
             ("d", "https://free.example/d.jpg", "Portrait by Claude Monetti", "Anon"),
             ("e", "https://free.example/e.jpg", "a plain square", "Anon")]
    for key, url, cap, author in specs:
        src = D / "xmp_dmi_prohibited.jpg" if key == "e" else None
        p = ds / "images" / f"{key}.jpg"
        if src:
            p.write_bytes(src.read_bytes())
        else:
            Image.new("RGB", (16, 16), (len(key) * 40, 10, 10)).save(p)
        rows.append({"key": key, "path": f"images/{key}.jpg", "url": url, "caption": cap, "width": 16, "height": 16,
                     "sha256": "0" * 64, "phash": "0123456789abcdef", "author": author, "license": "cc-by", "source": "test"})
    write_manifest(pd.DataFrame(rows), ds)
    return ds


def test_registry_check_filter_lookup(tmp_path, dataset, capsys):
    db = str(tmp_path / "r.db")
    assert main(["optout", "import", str(D / "spawning_list.txt"), "--registry", db]) == 0
    assert main(["optout", "add", "artist", "Claude Monet", "--alias", "Monet", "--registry", db, "--source", "estate"]) == 0
    assert main(["optout", "list", "--registry", db]) == 0
    assert "Claude Monet" in capsys.readouterr().out
    out = tmp_path / "m.parquet"
    assert main(["optout", "check", str(dataset), "--registry", db, "--out", str(out), "--scan-images"]) == 0
    m = pd.read_parquet(out)
    assert set(m["key"]) == {"a", "b", "c", "e"}
    assert set(m[m["key"] == "e"]["rule"]) == {"signal"}
    assert json.loads((tmp_path / "m.meta.json").read_text())["kind"] == "optout-check"
    clean = tmp_path / "clean"
    assert main(["optout", "filter", str(dataset), "--registry", db, "--out", str(clean), "--scan-images"]) == 0
    kept = read_manifest(clean)
    assert list(kept["key"]) == ["d"] and not Path(kept["path"][0]).is_absolute()  # relative to the source's images
    assert json.loads((clean / "meta.json").read_text())["image_root"] == str(dataset.resolve())
    assert resolve_paths(kept, clean)[0].is_file() and resolve_paths(kept, clean)[0].resolve() == (dataset / "images" / "d.jpg").resolve()
    excl = pd.read_parquet(clean / "excluded.parquet")
    assert set(excl["key"]) == {"a", "b", "c", "e"} and excl["reasons"].str.len().min() > 10
    assert json.loads((clean / "meta.json").read_text())["kind"] == "dataset"
    capsys.readouterr()
    assert main(["optout", "lookup", "--artist", "Monet", "--index", str(dataset)]) == 0
    text = capsys.readouterr().out
    assert "1 training item(s) found" in text and "Monetti" not in text
    assert main(["optout", "export", str(tmp_path / "x.json"), "--registry", db]) == 0
    assert len(json.loads((tmp_path / "x.json").read_text())["entries"]) == 6


def test_signals_offline_command(capsys):
    assert main(["optout", "signals", "https://x.example/a.jpg", "--headers", str(D / "headers_scoped_only.txt")]) == 0
    assert "no reservation" in capsys.readouterr().out
    assert main(["optout", "signals", "https://x.example/a.jpg", "--html", str(D / "page_noai.html")]) == 0
    assert "OPTED OUT" in capsys.readouterr().out


def test_clear_errors(tmp_path, dataset, capsys):
    future = tmp_path / "f.db"
    con = sqlite3.connect(future)
    con.execute("PRAGMA user_version=99")
    con.close()
    assert main(["optout", "list", "--registry", str(future)]) == 2
    assert "schema version 99" in capsys.readouterr().err
    assert main(["optout", "check", str(dataset), "--registry", str(tmp_path / "none.db"), "--out", str(tmp_path / "o.parquet")]) == 2
    assert "no registry" in capsys.readouterr().err
    assert main(["optout", "add", "url", "nope", "--registry", str(tmp_path / "r.db")]) == 2
    assert "not a valid url" in capsys.readouterr().err


def test_lookup_image_with_real_index(tmp_path, dataset, capsys):
    import torch

    from audit.index import build_index

    torch.set_num_threads(1)
    idx = build_index(dataset, tmp_path / "idx", model="genaudit-tiny-clip@random:0")
    query = dataset / "images" / "c.jpg"
    assert main(["optout", "lookup", "--image", str(query), "--index", str(idx), "--min-score", "0.99"]) == 0
    out = capsys.readouterr().out
    assert any(line.strip().startswith("c ") for line in out.splitlines())
    assert "phash" in out and "0 bits away" in out and "clip" in out

"""Hostile manifests: `..`, absolute and symlinked paths never make a command read or delete a file outside the root.

Each case writes the manifest as an attacker would (raw parquet: `write_manifest` itself refuses such rows), next
to a valid image outside the dataset (`outside/secret.png`), then runs the real command. The command must exit 2
with one line naming the manifest and row, and the outside file must still exist, unread (not in any index).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from audit.cli import main
from audit.errors import ManifestError
from audit.meta import sha256_file
from audit.paths import confine
from audit.records import MANIFEST_SCHEMA, read_manifest, resolve_paths, write_manifest

MODEL = "genaudit-tiny-clip@random:0"
DATA = Path(__file__).resolve().parent / "data" / "images"
FILES = ["oc_lemon.png", "oc_sailboat_illustration.png", "astronaut.jpg"]
VARIANTS = ("dotdot", "absolute", "symlink")


def _row(ds: Path, key: str, rel: str, author: str = "someone") -> dict:
    p = ds / rel
    return dict(key=key, path=rel, url=None, caption=f"picture of {key}", width=16, height=16,
                sha256=sha256_file(p) if p.is_file() else "0" * 64, phash=None, author=author, license="cc0", source="test")


def _raw_manifest(ds: Path, rows: list[dict]) -> None:
    pq.write_table(pa.Table.from_pandas(pd.DataFrame(rows), schema=MANIFEST_SCHEMA, preserve_index=False),
                   ds / "manifest.parquet")


@pytest.fixture()
def world(tmp_path: Path) -> Path:
    """tmp/ds (three real images) and tmp/outside/secret.png (a valid image that must never be touched)."""
    (tmp_path / "outside").mkdir()
    Image.open(DATA / "wp_LadyBird.jpg").convert("RGB").resize((64, 64)).save(tmp_path / "outside" / "secret.png")
    ds = tmp_path / "ds"
    (ds / "images").mkdir(parents=True)
    for f in FILES:
        shutil.copyfile(DATA / f, ds / "images" / f)
    write_manifest(pd.DataFrame([_row(ds, Path(f).stem, f"images/{f}") for f in FILES]), ds)
    return tmp_path


def _make_hostile(world: Path, variant: str, key: str = "evil") -> str:
    """Point row `key` (appended if absent) at outside/secret.png the `variant` way; returns the path written."""
    ds, secret = world / "ds", world / "outside" / "secret.png"
    if variant == "dotdot":
        rel = "images/../../outside/secret.png"
    elif variant == "absolute":
        rel = str(secret)
    else:
        link = ds / "images" / f"{key}.png"
        link.unlink(missing_ok=True)
        link.symlink_to(secret)
        rel = f"images/{key}.png"
    rows = pq.read_table(ds / "manifest.parquet").to_pylist()
    rows = [r for r in rows if r["key"] != key] + [_row(ds, key, rel, author="Evil Person")]
    _raw_manifest(ds, rows)
    return rel


def _assert_refused(rc: int, err: str, world: Path) -> None:
    assert rc == 2, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert lines[0].startswith("error: ") and "manifest.parquet" in lines[0] and "evil" in lines[0], lines
    assert "Traceback" not in err
    assert (world / "outside" / "secret.png").is_file()


# --- the one function -----------------------------------------------------------------------------------------
def test_confine_refuses_every_escape(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "images").mkdir(parents=True)
    (tmp_path / "outside.png").write_bytes(b"x")
    (root / "images" / "out.png").symlink_to(tmp_path / "outside.png")
    (root / "linkdir").symlink_to(tmp_path)
    (root / "images" / "ok.png").write_bytes(b"x")
    (root / "images" / "alias.png").symlink_to(root / "images" / "ok.png")  # a symlink that stays inside is fine
    assert confine(root, "images/ok.png") == root / "images" / "ok.png"
    assert confine(root, "images/alias.png") == root / "images" / "alias.png"
    assert confine(root, "images/missing.png") == root / "images" / "missing.png"  # absent is the caller's business
    bad = {"../outside.png": "'..'", "images/../../outside.png": "'..'", "images/../ok.png": "'..'",
           "/etc/passwd": "absolute", str(tmp_path / "outside.png"): "absolute", "C:\\x.png": "absolute",
           "..\\outside.png": "'..'", "images/out.png": "outside", "linkdir/outside.png": "outside",
           "a\x00b.png": "NUL", "": "empty", "  ": "empty", None: "missing", 7: "not text", float("nan"): "missing"}
    for rel, why in bad.items():
        with pytest.raises(ManifestError, match=why) as e:
            confine(root, rel, where="m.parquet row 3 (key k)")
        assert str(e.value).startswith("m.parquet row 3 (key k): path ") and "stay inside" in str(e.value)


@pytest.mark.parametrize("variant", VARIANTS)
def test_read_manifest_and_resolve_paths_refuse(world: Path, variant: str) -> None:
    _make_hostile(world, variant)
    with pytest.raises(ManifestError, match=r"manifest.parquet row 3 \(key evil\)"):
        resolve_paths(read_manifest(world / "ds"), world / "ds")
    with pytest.raises(ManifestError, match="evil"):  # nor can such a row be written
        write_manifest(pd.DataFrame([_row(world / "ds", "evil", "../x/secret.jpg")]), world / "ds")


# --- every command that turns manifest paths into files ---------------------------------------------------------
@pytest.mark.parametrize("variant", VARIANTS)
def test_index_build_refuses(world: Path, variant: str, capsys) -> None:
    _make_hostile(world, variant)
    rc = main(["index", "build", str(world / "ds"), "--out", str(world / "idx"), "--model", MODEL])
    _assert_refused(rc, capsys.readouterr().err, world)
    assert not (world / "idx").exists()


@pytest.mark.parametrize("variant", VARIANTS)
def test_optout_check_scan_images_refuses(world: Path, variant: str, capsys) -> None:
    db = str(world / "reg.db")
    assert main(["optout", "add", "artist", "Nobody Here", "--registry", db]) == 0
    _make_hostile(world, variant)
    rc = main(["optout", "check", str(world / "ds"), "--registry", db, "--out", str(world / "m.parquet"), "--scan-images"])
    _assert_refused(rc, capsys.readouterr().err, world)
    rc = main(["optout", "filter", str(world / "ds"), "--registry", db, "--out", str(world / "f"), "--scan-images"])
    _assert_refused(rc, capsys.readouterr().err, world)
    assert not (world / "f").exists()


@pytest.mark.parametrize("variant", VARIANTS)
def test_dataset_card_refuses(world: Path, variant: str, capsys) -> None:
    _make_hostile(world, variant)
    rc = main(["dataset", "card", str(world / "ds"), "--out", str(world / "card")])
    _assert_refused(rc, capsys.readouterr().err, world)
    assert not (world / "card").exists()


@pytest.mark.parametrize("variant", VARIANTS)
def test_scale_index_build_refuses_before_spark(world: Path, variant: str, capsys) -> None:
    _make_hostile(world, variant)
    rc = main(["scale", "index-build", str(world / "ds"), "--out", str(world / "sidx")])
    _assert_refused(rc, capsys.readouterr().err, world)
    assert not (world / "sidx").exists()


def test_ingest_skips_a_symlink_out_of_the_source_folder(world: Path) -> None:
    from audit.dataset.ingest import ingest

    src = world / "src"
    src.mkdir()
    shutil.copyfile(DATA / "oc_lemon.png", src / "lemon.png")
    (src / "evil.png").symlink_to(world / "outside" / "secret.png")
    ingest(src, world / "ingested")
    df = read_manifest(world / "ingested")
    assert list(df["key"]) == ["lemon"]
    skipped = json.loads((world / "ingested" / "meta.json").read_text())["skipped"]
    assert any("evil.png" in json.dumps(s) and "outside the source folder" in json.dumps(s) for s in skipped)
    secret_sha = sha256_file(world / "outside" / "secret.png")
    assert secret_sha not in set(df["sha256"])


@pytest.fixture()
def erase_world(world: Path) -> tuple[Path, Path]:
    """An index over ds including a legitimate 'evil' row (author Evil Person), located and confirmed by name."""
    from audit.index import build_index
    from audit.removal import confirm_hits, connect, create_request, locate, transition

    ds = world / "ds"
    shutil.copyfile(DATA / "oc_home0.png", ds / "images" / "evil.png")
    rows = pq.read_table(ds / "manifest.parquet").to_pylist() + [_row(ds, "evil", "images/evil.png", author="Evil Person")]
    write_manifest(pd.DataFrame(rows), ds)
    build_index(ds, world / "idx", model=MODEL)
    conn = connect(world / "r.db")
    r = create_request(conn, "Evil Person", "e@example.org")
    transition(conn, r.id, "verified")
    locate(conn, r.id, world / "idx", name="Evil Person")
    confirm_hits(conn, r.id, ["evil"])
    conn.close()
    return world / "idx", world / "r.db"


@pytest.mark.parametrize("variant", VARIANTS)
def test_removal_erase_never_deletes_outside_the_dataset(world: Path, erase_world, variant: str, capsys) -> None:
    idx, db = erase_world
    (world / "ds" / "images" / "evil.png").unlink()
    _make_hostile(world, variant)
    rc = main(["removal", "erase", "1", "--index", str(idx), "--removal-db", str(db)])
    _assert_refused(rc, capsys.readouterr().err, world)


def test_removal_erase_refuses_a_tampered_plan(world: Path, erase_world, capsys) -> None:
    """The plan is written from a clean manifest; someone then edits its file list: the files step deletes nothing."""
    from audit.removal import connect
    from audit.removal.erase import erase

    idx, db = erase_world
    conn = connect(db)
    with pytest.raises(RuntimeError, match="stop"):
        erase(conn, 1, idx, _before_step=lambda s: (_ for _ in ()).throw(RuntimeError("stop")) if s == "files" else None)
    arg = json.loads(conn.execute("SELECT arg FROM erase_plan WHERE name='files'").fetchone()[0])
    for hostile in ("../outside/secret.png", str(world / "outside" / "secret.png")):
        arg["paths"] = ["images/lemon_never_existed.png", hostile]
        with sqlite3.connect(db) as c:
            c.execute("UPDATE erase_plan SET arg=? WHERE name='files'", (json.dumps(arg),))
        rc = main(["removal", "erase", "1", "--index", str(idx), "--removal-db", str(db)])
        err = capsys.readouterr().err
        assert rc == 2 and "erase plan of request #1" in err and "Traceback" not in err
        assert (world / "outside" / "secret.png").is_file()
        assert (world / "ds" / "images" / "evil.png").is_file()  # all or nothing: no file of the list was deleted


def test_tampered_index_rows_are_refused_on_read(world: Path, erase_world, capsys) -> None:
    """ids.parquet edited to point a row outside: search and image_path (memorisation, app) refuse it."""
    from audit.index import open_index

    idx, _ = erase_world
    t = pq.read_table(idx / "ids.parquet").to_pandas()
    t.loc[t["key"] == "evil", "path"] = "../outside/secret.png"
    pq.write_table(pa.Table.from_pandas(t, preserve_index=False), idx / "ids.parquet")
    o = open_index(idx)
    with pytest.raises(ManifestError, match=r"ids.parquet \(key evil\): path '../outside/secret.png' contains '..'"):
        o.image_path(o.id_of("evil"))
    rc = main(["search", "--index", str(idx), "--text", "picture of evil", "-k", "4"])
    err = capsys.readouterr().err
    assert rc == 2 and "ids.parquet (key evil)" in err and "Traceback" not in err


# --- app pages (Streamlit AppTest: the real pages, no server) -----------------------------------------------------
def _app(monkeypatch, index_dir: Path):
    from streamlit.testing.v1 import AppTest

    from audit.app_cli import APP_SCRIPT
    from audit.index.status import INDEX_ENV

    monkeypatch.setenv(INDEX_ENV, str(index_dir))
    return AppTest.from_file(str(APP_SCRIPT), default_timeout=120)


def test_app_search_page_refuses_a_tampered_index_row(world: Path, erase_world, monkeypatch) -> None:
    idx, _ = erase_world
    t = pq.read_table(idx / "ids.parquet").to_pandas()
    t.loc[t["key"] == "evil", "path"] = str(world / "outside" / "secret.png")
    pq.write_table(pa.Table.from_pandas(t, preserve_index=False), idx / "ids.parquet")
    at = _app(monkeypatch, idx).run()
    at.text_input(key="search_text").input("picture of evil").run()
    assert not at.exception
    assert any("ids.parquet (key evil)" in e.value and "is absolute" in e.value for e in at.error)
    assert len(at.image) == 0  # nothing shown, the outside image least of all


@pytest.mark.parametrize("variant", ["dotdot", "symlink"])
def test_app_dataset_card_page_refuses_a_hostile_manifest(world: Path, erase_world, monkeypatch, variant: str) -> None:
    idx, _ = erase_world
    (world / "ds" / "images" / "evil.png").unlink()
    _make_hostile(world, variant)
    at = _app(monkeypatch, idx).run()
    at.switch_page("app_pages/dataset_card.py").run()
    assert not at.exception
    assert any("manifest.parquet row 3 (key evil)" in e.value for e in at.error), [e.value for e in at.error]
    assert len(at.image) == 0 and (world / "outside" / "secret.png").is_file()

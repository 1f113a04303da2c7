"""Crash-safe directory swaps: a SIGKILL between the two renames never loses the artefact; stale temps are cleaned."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from audit.atomic import atomic_dir, clean_stale, old_path, recover_dir

REPO = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data" / "images"


def _hidden(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir() if p.name.startswith("."))


def _ingest(src: Path, out: Path, fault: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "GENAUDIT_PROGRESS": "0", "OMP_NUM_THREADS": "1"}
    env.pop("GENAUDIT_FAULT", None)
    if fault:
        env["GENAUDIT_FAULT"] = fault
    exe = Path(sys.executable).with_name("audit")
    return subprocess.run([str(exe), "dataset", "ingest", str(src), "--out", str(out), "--overwrite"], env=env,
                          capture_output=True, text=True, timeout=300)


def test_sigkilled_ingest_between_renames_is_restored_by_the_next_reader_and_writer(tmp_path: Path) -> None:
    from audit.records import read_manifest

    src = tmp_path / "src"
    src.mkdir()
    for f in ("oc_lemon.png", "astronaut.jpg"):
        shutil.copyfile(DATA / f, src / f)
    ds = tmp_path / "ds"
    assert _ingest(src, ds).returncode == 0
    before = read_manifest(ds)
    killed = _ingest(src, ds, fault="atomic_dir:between-renames")
    assert killed.returncode == -9, killed.stderr
    assert not ds.exists() and old_path(ds).is_dir()  # exactly the window of issue #16
    stale = [n for n in _hidden(tmp_path) if n.endswith(".tmp")]
    assert len(stale) == 1  # the killed writer's complete new version, never swapped in
    assert list(read_manifest(ds)["key"]) == list(before["key"])  # the next reader puts the old version back
    assert not old_path(ds).exists()
    assert _ingest(src, ds).returncode == 0  # the next writer removes the dead writer's temp dir
    assert _hidden(tmp_path) == []


def test_kill_after_the_swap_leaves_an_old_version_that_the_next_run_deletes(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    shutil.copyfile(DATA / "oc_lemon.png", src / "oc_lemon.png")
    ds = tmp_path / "ds"
    assert _ingest(src, ds).returncode == 0
    assert _ingest(src, ds, fault="atomic_dir:after-swap").returncode == -9
    assert (ds / "manifest.parquet").is_file() and old_path(ds).is_dir()
    assert recover_dir(ds) == f"removed the leftover previous version of {ds}"
    assert _hidden(tmp_path) == []


def test_index_reader_restores_an_index_lost_between_renames(tmp_path: Path) -> None:
    """The state a kill between the renames leaves (shown above with a real SIGKILL), for an index dir."""
    from audit.index import layout
    from audit.meta import make_meta, write_meta

    idx = tmp_path / "idx"
    idx.mkdir()
    write_meta(idx, make_meta(layout.KIND, count=0))
    os.replace(idx, old_path(idx))
    assert layout.read_index_meta(idx)["kind"] == layout.KIND and idx.is_dir() and not old_path(idx).exists()


def test_stale_temps_of_dead_writers_go_live_ones_stay_and_legacy_old_names_are_recovered(tmp_path: Path) -> None:
    dest = tmp_path / "art"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    (tmp_path / f".art.{dead_pid}.x1.tmp").mkdir()
    (tmp_path / f".art.{dead_pid}.x2.parquet.tmp").write_bytes(b"old rows")
    live = tmp_path / f".art.{os.getpid()}.x3.tmp"
    live.mkdir()
    other = tmp_path / ".other.1.tmp"
    other.mkdir()
    gone = clean_stale(dest)
    assert sorted(p.name for p in gone) == sorted([f".art.{dead_pid}.x1.tmp", f".art.{dead_pid}.x2.parquet.tmp"])
    assert live.is_dir() and other.is_dir()
    live.rmdir()
    legacy = tmp_path / ".art.k3j2.old"  # the random name older versions of atomic_dir used
    legacy.mkdir()
    (legacy / "f").write_text("v1")
    assert recover_dir(dest) is not None and (dest / "f").read_text() == "v1"
    with atomic_dir(dest) as tmp:
        (tmp / "f").write_text("v2")
    assert (dest / "f").read_text() == "v2" and _hidden(tmp_path) == [".other.1.tmp"]


def test_a_failing_build_keeps_the_old_version(tmp_path: Path) -> None:
    dest = tmp_path / "art"
    with atomic_dir(dest) as tmp:
        Image.new("RGB", (4, 4)).save(tmp / "a.png")
    with pytest.raises(RuntimeError):
        with atomic_dir(dest) as tmp:
            (tmp / "half").write_text("x")
            raise RuntimeError("disk full")
    assert sorted(p.name for p in dest.iterdir()) == ["a.png"] and _hidden(tmp_path) == []

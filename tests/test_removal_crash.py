"""Erase under SIGKILL and under concurrency: real `audit removal erase` subprocesses, real faiss, real SQLite.

Each kill point (audit.faults) kills a real erase with SIGKILL; a plain re-run must reach the end state of an
uninterrupted erase and leave the subject's row in no version on disk (index, .old, .tmp, manifest, images,
captions FTS, vectors). Two concurrent erases of one request: exactly one runs, the other is refused (exit 2).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from audit.removal import confirm_hits, connect, create_request, locate, transition, verify_log

MODEL = "genaudit-tiny-clip@random:0"
REPO = Path(__file__).resolve().parents[1]
SUBJECT = "astronaut"
SECRET_WORD = b"Collins"  # in the subject's caption only
#: Representative points in the default run; the full matrix (every step boundary + the swap) is marked slow.
DEFAULT_POINTS = ("erase:after:files", "atomic_dir:between-renames", "atomic_dir:after-swap")


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    """A located, confirmed request on a tiny real dataset and index (built once, copied per case)."""
    import skimage.data as sd

    from audit.dataset.ingest import ingest
    from audit.index import build_index

    root = tmp_path_factory.mktemp("crash")
    src = root / "src"
    src.mkdir()
    Image.fromarray(sd.astronaut()).resize((128, 128)).save(src / "astronaut.png")
    Image.fromarray(sd.coffee()).resize((128, 128)).save(src / "coffee.png")
    Image.fromarray(sd.rocket()).resize((128, 128)).save(src / "rocket.png")
    Image.fromarray(sd.chelsea()).resize((128, 128)).save(src / "cat.png")
    (src / "astronaut.json").write_text(json.dumps({"caption": "Astronaut Eileen Collins in her suit", "author": "NASA"}))
    world = root / "world"
    ingest(src, world / "ds")
    build_index(world / "ds", world / "idx", model=MODEL)
    conn = connect(world / "r.db")
    r = create_request(conn, "Eileen Collins", "eileen@example.org")
    transition(conn, r.id, "verified")
    locate(conn, r.id, world / "idx", photo=src / "astronaut.png")
    confirm_hits(conn, r.id, [SUBJECT])
    conn.close()
    return world


def _copy(base: Path, dest: Path) -> Path:
    shutil.copytree(base, dest, symlinks=True)
    meta = dest / "idx" / "meta.json"
    m = json.loads(meta.read_text())
    m["dataset_dir"] = str((dest / "ds").resolve())  # the copy's index points at the copy's dataset
    meta.write_text(json.dumps(m))
    return dest


def _erase_cmd(world: Path) -> list[str]:
    exe = Path(sys.executable).with_name("audit")
    return [str(exe), "removal", "erase", "1", "--index", str(world / "idx"), "--removal-db", str(world / "r.db")]


def _env(fault: str | None = None) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "GENAUDIT_PROGRESS": "0"}
    env.pop("GENAUDIT_FAULT", None)
    if fault:
        env["GENAUDIT_FAULT"] = fault
    return env


def _subject_vector(world: Path) -> np.ndarray:
    from audit.index import layout

    ids = layout.read_ids(world / "idx")
    return np.asarray(layout.open_vectors(world / "idx")[int(np.flatnonzero(ids["key"].astype(str) == SUBJECT)[0])])


def assert_gone_everywhere(world: Path, vec: np.ndarray) -> None:
    """The erased row is in no version of any artefact on disk, and the index opens and searches."""
    from audit.index import layout, open_index

    idx = open_index(world / "idx")
    assert idx.count == 3 and SUBJECT not in set(idx.table["key"].astype(str))
    assert SUBJECT not in set(layout.read_hashes(world / "idx")["key"].astype(str))
    vecs = np.asarray(layout.open_vectors(world / "idx"))
    assert len(vecs) == 3 and float((vecs @ vec).max()) < 0.999
    with sqlite3.connect(world / "idx" / layout.CAPTIONS_NAME) as c:
        assert c.execute("SELECT count(*) FROM captions WHERE captions MATCH 'collins'").fetchone()[0] == 0
    assert SUBJECT not in set(pd.read_parquet(world / "ds" / "manifest.parquet")["key"])
    assert not list((world / "ds" / "images").glob(f"{SUBJECT}.*"))
    hidden = [p.name for d in (world, world / "ds", world / "idx") for p in d.iterdir() if p.name.startswith(".")]
    assert hidden == [], f"leftover temp/old versions: {hidden}"
    for p in world.rglob("*"):  # no byte of the subject's caption survives in any file but the request DB
        if p.is_file() and p.name != "r.db" and not p.name.startswith("r.db"):
            assert SECRET_WORD not in p.read_bytes(), p
    conn = connect(world / "r.db")
    assert conn.execute("SELECT state FROM requests WHERE id=1").fetchone()[0] == "index_rebuilt"
    actions = [r[0] for r in conn.execute("SELECT action FROM audit_log WHERE action = 'erase-planned' OR action LIKE 'erase:%'")]
    from audit.removal.erase import STEPS

    assert sorted(actions) == sorted(["erase-planned", *(f"erase:{s}" for s in STEPS)]), actions
    assert verify_log(conn).ok
    assert conn.execute("SELECT count(*) FROM tombstones WHERE request_id=1").fetchone()[0] == 1
    conn.close()


def _kill_and_resume(base: Path, tmp_path: Path, point: str) -> None:
    world = _copy(base, tmp_path / "w")
    vec = _subject_vector(world)
    killed = subprocess.run(_erase_cmd(world), env=_env(point), capture_output=True, text=True, timeout=300)
    assert killed.returncode == -9, f"{point}: not killed (rc {killed.returncode}): {killed.stderr[-800:]}"
    resumed = subprocess.run(_erase_cmd(world), env=_env(), capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, f"{point}: resume failed: {resumed.stderr[-800:]}"
    assert "state index_rebuilt" in resumed.stdout
    assert_gone_everywhere(world, vec)


@pytest.mark.parametrize("point", DEFAULT_POINTS)
def test_sigkill_then_resume_reaches_the_clean_end_state(base, tmp_path, point):
    _kill_and_resume(base, tmp_path, point)


def _other_points() -> list[str]:
    from audit.removal.erase import FAULT_POINTS

    return [p for p in FAULT_POINTS if p not in DEFAULT_POINTS]


@pytest.mark.slow
@pytest.mark.parametrize("point", _other_points())
def test_sigkill_full_matrix(base, tmp_path, point):
    _kill_and_resume(base, tmp_path, point)


@pytest.mark.slow
def test_uninterrupted_erase_is_the_reference_end_state(base, tmp_path):
    world = _copy(base, tmp_path / "w")
    vec = _subject_vector(world)
    r = subprocess.run(_erase_cmd(world), env=_env(), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert_gone_everywhere(world, vec)


def test_two_concurrent_erases_one_runs_the_other_is_refused(base, tmp_path):
    """A is held (sleep fault point) while it holds the lease; B, a second real process, is refused in one line."""
    world = _copy(base, tmp_path / "w")
    vec = _subject_vector(world)
    a = subprocess.Popen(_erase_cmd(world), env=_env("erase:before:files@sleep=15"), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 240
        while True:  # wait until A holds the lease and has started its steps
            with sqlite3.connect(world / "r.db", timeout=10) as c:
                done = c.execute("SELECT count(*) FROM erase_plan WHERE done_unix IS NOT NULL").fetchone()[0] \
                    if c.execute("SELECT 1 FROM sqlite_master WHERE name='erase_plan'").fetchone() else 0
            if done >= 3 or a.poll() is not None or time.time() > deadline:
                break
            time.sleep(0.3)
        assert a.poll() is None, "A finished or died before B could race it"
        b = subprocess.run(_erase_cmd(world), env=_env(), capture_output=True, text=True, timeout=300)
        assert b.returncode == 2, b.stderr
        err = [ln for ln in b.stderr.splitlines() if ln.strip()]
        assert "being erased by another process" in err[0] and f"pid {a.pid}" in err[0] and "Traceback" not in b.stderr
        out, _ = a.communicate(timeout=300)
    finally:
        if a.poll() is None:
            a.kill()
    assert a.returncode == 0 and "state index_rebuilt" in out
    assert_gone_everywhere(world, vec)  # exactly one log row per step: B ran nothing
    with sqlite3.connect(world / "r.db") as c:
        assert c.execute("SELECT count(*) FROM erase_lease").fetchone()[0] == 0  # released

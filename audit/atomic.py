"""Write-then-rename helpers: an interrupted write never leaves a half-written artefact in place, nor none at all.

Names beside an artefact `DIR` (see docs/REMOVAL.md, "Crash-safe swaps"):
- `.DIR.<pid>.<random>.tmp`: work in progress of process <pid>. Removed by the next writer once <pid> is dead.
- `.DIR.old`: the previous version during a directory swap (`DIR` → `.DIR.old`, then tmp → `DIR`). A kill between
  the two renames leaves `DIR` absent and `.DIR.old` complete: `recover_dir` (run by the next writer and by the
  readers of index and dataset dirs) renames it back, so the artefact is never lost; when `DIR` exists the
  `.old` is a leftover of a finished swap and is deleted (it may hold erased rows).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

if TYPE_CHECKING:
    import pandas as pd

from audit.faults import fault_point


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def pid_alive(pid: int) -> bool:
    """Whether process `pid` exists on this machine (a stale temp file or lease of a dead process may be taken)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def old_path(dest: str | Path) -> Path:
    """Where the previous version of directory `dest` waits during a swap."""
    dest = Path(dest)
    return dest.parent / f".{dest.name}.old"


def _tmp_prefix(dest: Path) -> str:
    return f".{dest.name}.{os.getpid()}."


def clean_stale(dest: str | Path) -> list[Path]:
    """Remove temp files/dirs beside `dest` left by processes that died (killed mid-write); returns what went."""
    dest = Path(dest)
    gone: list[Path] = []
    if not dest.parent.is_dir():
        return gone
    for p in dest.parent.glob(f".{dest.name}.*.tmp"):
        pid = p.name[len(dest.name) + 2:].split(".", 1)[0]
        if pid.isdigit() and pid_alive(int(pid)):
            continue  # a live writer's work (or an unrelated name): leave it
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
        gone.append(p)
    return gone


def recover_dir(dest: str | Path) -> str | None:
    """Finish or undo an interrupted swap of directory `dest`; returns what was done (None: nothing to do)."""
    dest = Path(dest)
    old = old_path(dest)
    legacy = sorted(dest.parent.glob(f".{dest.name}.*.old"), key=lambda p: p.stat().st_mtime) if dest.parent.is_dir() else []
    olds = [p for p in (*legacy, old) if p.is_dir()]
    done = None
    if olds and not dest.exists():
        os.replace(olds[-1], dest)  # the newest previous version comes back: the artefact is never absent
        olds = olds[:-1]
        done = f"restored {dest} from an interrupted swap"
    for p in olds:  # the swap finished; the old version may hold rows that were meant to be gone
        shutil.rmtree(p, ignore_errors=True)
        done = done or f"removed the leftover previous version of {dest}"
    clean_stale(dest)
    return done


def restore_if_absent(dest: str | Path) -> bool:
    """For readers: if `dest` is missing but an interrupted swap left its previous version, put it back."""
    dest = Path(dest)
    if dest.exists() or not dest.parent.is_dir():
        return False
    if not old_path(dest).is_dir() and not any(dest.parent.glob(f".{dest.name}.*.old")):
        return False
    try:
        return recover_dir(dest) is not None
    except OSError:  # read-only folder or a concurrent writer won the race: the caller reports what it finds
        return False


@contextlib.contextmanager
def atomic_path(dest: str | Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temp file path beside `dest`; on success it replaces `dest` atomically."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    clean_stale(dest)
    fd, tmp = tempfile.mkstemp(prefix=_tmp_prefix(dest), suffix=suffix + ".tmp", dir=dest.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; artefacts get the usual permissions
    try:
        yield tmp_path
        fault_point(f"atomic_path:{dest.name}:before-replace")
        os.replace(tmp_path, dest)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text(dest: str | Path, text: str) -> None:
    with atomic_path(dest) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(dest: str | Path, obj: Any) -> None:
    write_text(dest, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


@contextlib.contextmanager
def atomic_dir(dest: str | Path) -> Iterator[Path]:
    """Yield a fresh temp directory beside `dest`; on success it replaces `dest` whole.

    The old directory (if any) is renamed to `.DIR.old` first and deleted only after the new one is in place.
    A crash leaves the old or the new artefact, never a mix; a crash between the two renames leaves the old one
    at `.DIR.old`, which the next `atomic_dir`/`recover_dir` on `dest` puts back.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    recover_dir(dest)
    tmp = Path(tempfile.mkdtemp(prefix=_tmp_prefix(dest), suffix=".tmp", dir=dest.parent))
    os.chmod(tmp, 0o777 & ~_umask())
    try:
        yield tmp
        old = old_path(dest)
        fault_point("atomic_dir:before-swap")
        had_old = dest.exists()
        if had_old:
            os.replace(dest, old)
        fault_point("atomic_dir:between-renames")
        os.replace(tmp, dest)
        fault_point("atomic_dir:after-swap")
        if had_old:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def write_parquet(df: pd.DataFrame, dest: str | Path) -> None:
    """Write a frame to parquet atomically; object columns stay object (mixed None/str must not become null types)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    with atomic_path(dest, ".parquet") as tmp:
        pq.write_table(pa.Table.from_pandas(df.astype({c: "object" for c in df.columns if df[c].dtype == "object"}),
                                            preserve_index=False), tmp)

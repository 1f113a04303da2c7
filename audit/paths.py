"""Path confinement: the one place a path taken from data (manifest row, index row, registry, upload) becomes a file.

Why one function: a manifest row is data, not a command. `../../x/secret.jpg`, `/etc/passwd` or a symlink that
points out of the dataset must never make genaudit read or delete a file outside the root it was given (issue
#16: erase deleted files outside the dataset). Every reader and deleter of manifest paths goes through
`confine`, directly or via `audit.records.resolve_paths`.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from audit.errors import ManifestError

HINT = "manifest paths must be relative to the dataset folder and stay inside it; fix or remove that row"


def path_problem(rel: Any) -> str | None:
    """Why `rel` is not an acceptable relative path (lexical checks only, no file system), or None when it is."""
    if not isinstance(rel, str):
        return "is missing" if rel is None or rel != rel else f"is not text ({type(rel).__name__})"
    if not rel.strip():
        return "is empty"
    if "\x00" in rel:
        return "contains a NUL character"
    if PurePosixPath(rel).is_absolute() or PureWindowsPath(rel).is_absolute() or PureWindowsPath(rel).drive:
        return "is absolute"
    if ".." in PurePosixPath(rel.replace("\\", "/")).parts:
        return "contains '..'"
    return None


def confine(root: str | Path, rel: Any, *, where: str = "manifest") -> Path:
    """`root / rel` when it stays inside `root` after resolving symlinks; else ManifestError naming `where`.

    Refuses non-text, empty, NUL-containing, absolute and `..` paths outright (even when `..` would come back
    inside), and any path whose resolved target (symlinks followed) is not inside the resolved root.
    The returned path is the lexical join (stable for display); it is checked to resolve inside the root.
    """
    problem = path_problem(rel)
    if problem is None:
        base = Path(root).resolve()
        try:
            target = (base / rel).resolve()
        except (OSError, RuntimeError) as exc:  # symlink loop, name too long
            problem = f"cannot be resolved ({exc.__class__.__name__})"
        else:
            if not target.is_relative_to(base):
                problem = f"leads outside {base} (through a symlink)"
    if problem is not None:
        raise ManifestError(f"{where}: path {str(rel)[:200]!r} {problem}", HINT)
    return Path(root) / str(rel)

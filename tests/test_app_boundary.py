"""UI stays out of the domain: nothing under audit/ imports streamlit or the app package (the app imports audit,
never the other way round), and the app's pages take their rules from audit/ (checked on the real source)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: The app package, and its flat module names as Streamlit imports them (app/ on sys.path).
UI_MODULES = ("streamlit", "app", "app_common", "app_display")


def _imported_modules(path: Path) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.lineno, node.module))
    return out


def test_no_module_under_audit_imports_streamlit_or_app() -> None:
    offenders = []
    for path in sorted((ROOT / "audit").rglob("*.py")):
        for line, name in _imported_modules(path):
            if name.split(".")[0] in UI_MODULES:
                offenders.append(f"{path.relative_to(ROOT)}:{line}: import {name}")
    assert offenders == []


def test_the_boundary_check_sees_function_local_imports(tmp_path: Path) -> None:
    """The check must catch the hidden kind too (an import inside a function, as removal/indexcache had)."""
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from app import app_display\n    import streamlit as st\n")
    assert [n for _, n in _imported_modules(probe)] == ["app", "streamlit"]

"""PEP 562 lazy re-exports for package `__init__` modules.

A package that re-exports its submodules' names eagerly makes `import audit.pkg.small` run every sibling (and what
they import), which hides import cycles and slows light imports. `lazy_exports` resolves a name on first use.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, namespace: dict[str, Any], exports: Mapping[str, str]) -> Callable[[str], Any]:
    """A module `__getattr__` that imports `exports[name]` (a module path) on first access and caches the value."""

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(exports[name]), name)
        namespace[name] = value
        return value

    return __getattr__

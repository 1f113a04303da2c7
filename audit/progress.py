"""Progress bars that stay quiet when output is not a terminal unless asked (CI logs stay readable)."""

from __future__ import annotations

import os
import sys
from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")


def enabled() -> bool:
    if os.environ.get("GENAUDIT_PROGRESS") in ("0", "false", "no"):
        return False
    return sys.stderr.isatty() or os.environ.get("GENAUDIT_PROGRESS") in ("1", "true", "yes")


def track(items: Iterable[T], desc: str, total: int | None = None, unit: str = "it") -> Iterator[T]:
    """tqdm over `items` when progress is enabled, else the items themselves."""
    if not enabled():
        yield from items
        return
    from tqdm import tqdm

    yield from tqdm(items, desc=desc, total=total, unit=unit, dynamic_ncols=True, file=sys.stderr)


def bar(total: int, desc: str, unit: str = "it"):
    """A manual tqdm bar (call .update(n)); disabled when progress is off."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=not enabled(), dynamic_ncols=True, file=sys.stderr)

"""Progress bars that stay quiet when output is not a terminal unless asked (CI logs stay readable)."""

from __future__ import annotations

import sys
from typing import Iterable, Iterator, TypeVar

from tqdm import tqdm

from audit import config

T = TypeVar("T")


def enabled() -> bool:
    """$GENAUDIT_PROGRESS decides when set; otherwise bars show only on a terminal."""
    choice = config.progress_choice()
    return sys.stderr.isatty() if choice is None else choice


def track(items: Iterable[T], desc: str, total: int | None = None, unit: str = "it") -> Iterator[T]:
    """tqdm over `items` when progress is enabled, else the items themselves."""
    if not enabled():
        yield from items
        return
    yield from tqdm(items, desc=desc, total=total, unit=unit, dynamic_ncols=True, file=sys.stderr)


def bar(total: int, desc: str, unit: str = "it"):
    """A manual tqdm bar (call .update(n)); disabled when progress is off."""
    return tqdm(total=total, desc=desc, unit=unit, disable=not enabled(), dynamic_ncols=True, file=sys.stderr)

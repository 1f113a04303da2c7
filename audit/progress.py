"""Progress of long work: tqdm bars on a terminal, and the same counts to listeners (the review app's bars).

One source of truth: every long loop reports through `track` or `bar`; the CLI sees tqdm, the app registers a
listener with `reporting(...)` and draws st.progress from the same (description, done, total) updates.
Listeners are per context (contextvars), so two app sessions do not see each other's work; a bar created inside
`reporting` keeps its listeners even when worker threads update it.
"""

from __future__ import annotations

import contextlib
import contextvars
import sys
import threading
from typing import Any, Callable, Iterable, Iterator, TypeVar

from tqdm import tqdm

from audit import config

T = TypeVar("T")

#: (description, units done, total or None). Called often: keep it cheap.
Listener = Callable[[str, float, "int | None"], None]
_LISTENERS: contextvars.ContextVar[tuple[Listener, ...]] = contextvars.ContextVar("genaudit_progress", default=())


def enabled() -> bool:
    """$GENAUDIT_PROGRESS decides when set; otherwise bars show only on a terminal."""
    choice = config.progress_choice()
    return sys.stderr.isatty() if choice is None else choice


@contextlib.contextmanager
def reporting(listener: Listener) -> Iterator[None]:
    """Send every bar and tracked loop started inside this block to `listener` as well."""
    token = _LISTENERS.set(_LISTENERS.get() + (listener,))
    try:
        yield
    finally:
        _LISTENERS.reset(token)


class _Bar:
    """A tqdm bar (or nothing) plus the listeners of the context it was made in."""

    def __init__(self, total: int | None, desc: str, unit: str, listeners: tuple[Listener, ...]):
        self.total, self.desc, self.n = total, desc, 0.0
        self._listeners = listeners
        self._lock = threading.Lock()
        self._tqdm = tqdm(total=total, desc=desc, unit=unit, disable=not enabled(), dynamic_ncols=True, file=sys.stderr)
        self._emit()

    def _emit(self) -> None:
        for listener in self._listeners:
            listener(self.desc, self.n, self.total)

    def update(self, n: float = 1) -> None:
        with self._lock:  # scans update from worker threads
            self.n += n
            self._tqdm.update(n)
            self._emit()

    def set_description(self, desc: str) -> None:
        self.desc = desc
        self._tqdm.set_description(desc)

    def close(self) -> None:
        self._tqdm.close()

    def __enter__(self) -> "_Bar":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __getattr__(self, name: str) -> Any:  # anything else tqdm offers (set_postfix, refresh, …)
        return getattr(self._tqdm, name)


def track(items: Iterable[T], desc: str, total: int | None = None, unit: str = "it") -> Iterator[T]:
    """tqdm over `items` when progress is enabled, else the items themselves; listeners see each item."""
    listeners = _LISTENERS.get()
    if not enabled() and not listeners:
        yield from items
        return
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with _Bar(total, desc, unit, listeners) as b:
        for item in items:
            yield item
            b.update(1)


def bar(total: int, desc: str, unit: str = "it") -> _Bar:
    """A manual bar (call .update(n)); tqdm is disabled when progress is off, listeners are told either way."""
    return _Bar(total, desc, unit, _LISTENERS.get())

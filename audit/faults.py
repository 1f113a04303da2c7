"""Fault injection for crash-safety tests: $GENAUDIT_FAULT=<point> SIGKILLs the process when it reaches <point>.

Why SIGKILL: it is what an OOM killer or a pulled plug does — no `finally`, no atexit, no flush. The tests run a
real `audit removal erase` subprocess with each point and check that a re-run reaches the same end state.
Points are plain names (`erase:before:<step>`, `erase:after:<step>`, `atomic_dir:between-renames`, ...; the
list is `audit.removal.erase.FAULT_POINTS`). `<point>@sleep=<seconds>` pauses there instead, so a test can hold a
process at a known place (e.g. while it holds a lease). Unset (the normal case) costs one environment lookup.
"""

from __future__ import annotations

import os
import signal
import time

from audit.config import fault_point as wanted


def fault_point(name: str) -> None:
    """Kill this process with SIGKILL if $GENAUDIT_FAULT names `name`."""
    value = wanted()
    if value is None:
        return
    point, _, action = value.partition("@")
    if point != name:
        return
    if action.startswith("sleep="):
        time.sleep(float(action.split("=", 1)[1]))
        return
    os.kill(os.getpid(), signal.SIGKILL)

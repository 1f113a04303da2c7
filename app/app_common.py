"""Streamlit glue shared by the pages: the sidebar workspace and index picker, the opened index, the result grid and
progress bars fed by audit.progress (the same updates the CLI's bars get).

Logic (status, discovery, the opened-index cache) lives in audit.index; formatting in app_display; this module only
draws and caches.
"""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path
from typing import Any, Iterator, Sequence

import app_display
import streamlit as st
from app_display import HitCard

from audit import config
from audit.errors import AuditError
from audit.index.cache import cached_index
from audit.index.status import IndexStatus, discover_indices, index_status
from audit.progress import reporting
from audit.workspace import WORKSPACE_FILE, Workspace, current_workspace, describe, from_environment

INDEX_KEY = "index_dir"
WORKSPACE_KEY = "workspace_dir"
#: Widgets whose default value comes from the workspace: forgotten when the user switches workspace.
WORKSPACE_WIDGETS = (INDEX_KEY, "optout_registry", "prov_trust", "prov_store", "removal_db", "memo_report",
                     "gen_model", "card_registry", "card_requests", "removal_pick", "memo_pair")
FLASH_KEY = "_flash"


@st.cache_data(show_spinner=False, max_entries=4096)
def load_thumbnail(path: str, mtime_ns: int, max_side: int = 256):
    return app_display.thumbnail(path, max_side)


def _choose_known() -> None:
    st.session_state[INDEX_KEY] = st.session_state["known_index"]


def _forget_workspace_widgets() -> None:
    for key in WORKSPACE_WIDGETS:
        st.session_state.pop(key, None)


def _choose_workspace() -> None:
    st.session_state[WORKSPACE_KEY] = st.session_state["known_workspace"]
    _forget_workspace_widgets()


def workspace() -> Workspace:
    """The workspace of the sidebar choice (read on each run: a small TOML file); a bad one falls back to the
    environment's paths and says why in the sidebar."""
    chosen = st.session_state.get(WORKSPACE_KEY)
    try:
        return current_workspace(chosen or None)
    except AuditError as exc:
        st.session_state["_workspace_error"] = app_display.format_error(exc)
        return from_environment()


def _found_workspaces(ws: Workspace) -> list[str]:
    """workspace.toml folders next to the current one and under the working directory (one level)."""
    roots = {ws.root.parent, Path.cwd()}
    found = {str(d.parent.resolve()) for r in roots if r.is_dir() for d in r.glob(f"*/{WORKSPACE_FILE}")}
    if (Path.cwd() / WORKSPACE_FILE).is_file():
        found.add(str(Path.cwd().resolve()))
    return sorted(found)


def sidebar_index_picker() -> IndexStatus:
    """Draw the workspace and index chooser in the sidebar and return the chosen index's status."""
    if WORKSPACE_KEY not in st.session_state:
        env_ws = config.workspace_dir()
        st.session_state[WORKSPACE_KEY] = str(env_ws) if env_ws is not None else ""
    st.session_state.pop("_workspace_error", None)
    ws = workspace()
    if INDEX_KEY not in st.session_state:
        st.session_state[INDEX_KEY] = str(ws.index)
    with st.sidebar:
        st.markdown(f"### {app_display.APP_TITLE}")
        st.text_input("Workspace folder", key=WORKSPACE_KEY, on_change=_forget_workspace_widgets,
                      placeholder="demo (written by `audit demo`)",
                      help=f"A folder holding a {WORKSPACE_FILE} (`audit demo` or `audit workspace init DIR` writes one).")
        if err := st.session_state.get("_workspace_error"):
            st.error(err)
        found = _found_workspaces(ws)
        if found:
            st.selectbox("Workspaces found", found, index=None, key="known_workspace", placeholder="switch to…",
                         on_change=_choose_workspace)
        with st.expander(f"Loaded: {ws.name}", expanded=False):
            st.caption(f"`{ws.root}`" if ws.from_file else "No workspace file: paths from the environment.")
            for what, path, exists in describe(ws):
                st.caption(f"{'✅' if exists else '⬜'} {what}: `{path}`")
        st.text_input("Index directory", key=INDEX_KEY, help="A folder written by `audit index build` or `audit demo`.")
        known = [str(p) for p in discover_indices([ws.root])]
        if known:
            st.selectbox("Indices found here", known, index=None, key="known_index",
                         placeholder="pick one…", on_change=_choose_known)
        status = current_status()
        if status.ready:
            st.caption(status.summary)
        else:
            st.caption(status.message)
    return status


def current_status() -> IndexStatus:
    return index_status(st.session_state.get(INDEX_KEY) or workspace().index)


def flash(message: str, kind: str = "success") -> None:
    """Show `message` on the next run (after st.rerun), so it is not lost with the run that wrote it."""
    st.session_state[FLASH_KEY] = (kind, message)


def show_flash() -> None:
    kind, message = st.session_state.pop(FLASH_KEY, (None, None))
    if message:
        getattr(st, kind or "success")(message)


def run_stamp() -> str:
    """A sortable, file-name-safe time stamp for one app action's output folder."""
    return time.strftime("%Y%m%d-%H%M%S") + f"-{int(time.time() * 1000) % 1000:03d}"


@contextlib.contextmanager
def progress_status(label: str) -> Iterator[Any]:
    """st.status with one st.progress bar per audit.progress bar started inside the block.

    Worker threads (the memorisation scan verifies in a pool) report too: they get this session's script context."""
    from streamlit.runtime.scriptrunner import add_script_run_ctx, get_script_run_ctx

    ctx = get_script_run_ctx()
    lock = threading.Lock()
    bars: dict[str, Any] = {}
    shown: dict[str, int] = {}
    with st.status(label, expanded=True) as status:

        def listener(desc: str, done: float, total: int | None) -> None:
            if ctx is not None and get_script_run_ctx() is None:
                add_script_run_ctx(threading.current_thread(), ctx)
            pct = int(100 * min(done / total, 1.0)) if total else 0
            with lock:
                if shown.get(desc) == pct:  # at most 101 redraws per bar
                    return
                shown[desc] = pct
                text = f"{desc}: {done:,.0f} / {total:,}" if total else f"{desc}: {done:,.0f}"
                if desc not in bars:
                    bars[desc] = status.progress(pct / 100, text=text)
                else:
                    bars[desc].progress(pct / 100, text=text)

        with reporting(listener):
            yield status
        status.update(label=f"{label} done", state="complete", expanded=False)


def require_index() -> Any:
    """The loaded index of the sidebar choice (the process-wide audit.index.cache), or a help message and a stopped
    page."""
    status = current_status()
    if not status.ready:
        st.info(f"**{status.message}**\n\nTo create one, {status.hint}.", icon=":material/info:")
        st.stop()
    try:
        with st.spinner("Loading index and model…"):
            return cached_index(status.path)
    except AuditError as exc:
        st.error(app_display.format_error(exc))
        st.stop()


def hit_grid(cards: Sequence[HitCard], columns: int = 4) -> None:
    """Results as cards: thumbnail, caption, score, author, licence, key."""
    for start in range(0, len(cards), columns):
        cols = st.columns(columns)
        for col, card in zip(cols, cards[start:start + columns]):
            with col.container(border=True):
                thumb = None
                if card.image_path is not None:
                    try:
                        thumb = load_thumbnail(str(card.image_path), card.image_path.stat().st_mtime_ns)
                    except OSError:  # deleted since the search (e.g. by a removal request)
                        thumb = None
                if thumb is not None:
                    st.image(thumb, width="stretch", alt=card.caption)
                else:
                    st.caption(":grey[image file not found]")
                st.markdown(f"**{app_display.escape_markdown(card.title)}**")
                st.caption(app_display.escape_markdown(card.details))

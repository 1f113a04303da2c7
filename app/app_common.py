"""Streamlit glue shared by the pages: the sidebar index picker, the opened index and the result grid.

Logic (status, discovery, the opened-index cache) lives in audit.index; formatting in app_display; this module only
draws and caches.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import app_display
import streamlit as st
from app_display import HitCard

from audit import config
from audit.errors import AuditError
from audit.index.cache import cached_index
from audit.index.status import IndexStatus, default_index_dir, discover_indices, index_status

INDEX_KEY = "index_dir"


@st.cache_data(show_spinner=False, max_entries=4096)
def load_thumbnail(path: str, mtime_ns: int, max_side: int = 256):
    return app_display.thumbnail(path, max_side)


def _choose_known() -> None:
    st.session_state[INDEX_KEY] = st.session_state["known_index"]


def sidebar_index_picker() -> IndexStatus:
    """Draw the index chooser in the sidebar and return the chosen index's status."""
    if INDEX_KEY not in st.session_state:
        st.session_state[INDEX_KEY] = str(default_index_dir())
    with st.sidebar:
        st.markdown(f"### {app_display.APP_TITLE}")
        st.text_input("Index directory", key=INDEX_KEY, help="A folder written by `audit index build` or `audit demo`.")
        known = [str(p) for p in discover_indices([config.DEMO_DIR, Path(".")])]
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
    return index_status(st.session_state.get(INDEX_KEY) or default_index_dir())


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

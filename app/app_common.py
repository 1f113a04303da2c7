"""Streamlit glue shared by the pages: the sidebar index picker, cached loaders and the result grid.

Logic (validation, formatting, discovery) lives in audit.webapp; this module only draws and caches.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import streamlit as st

from audit import config, webapp
from audit.errors import AuditError
from audit.webapp import HitCard, IndexStatus

INDEX_KEY = "index_dir"


@st.cache_resource(show_spinner="Loading index and model…", max_entries=4)
def load_index(path: str, token: str) -> Any:
    """Open an index (and its model) once per process; `token` changes when the index is rebuilt."""
    return webapp.open_index_ready(path)


@st.cache_data(show_spinner=False, max_entries=4096)
def load_thumbnail(path: str, mtime_ns: int, max_side: int = 256):
    return webapp.thumbnail(path, max_side)


def _choose_known() -> None:
    st.session_state[INDEX_KEY] = st.session_state["known_index"]


def sidebar_index_picker() -> IndexStatus:
    """Draw the index chooser in the sidebar and return the chosen index's status."""
    if INDEX_KEY not in st.session_state:
        st.session_state[INDEX_KEY] = str(webapp.default_index_dir())
    with st.sidebar:
        st.markdown(f"### {webapp.APP_TITLE}")
        st.text_input("Index directory", key=INDEX_KEY, help="A folder written by `audit index build` or `audit demo`.")
        known = [str(p) for p in webapp.discover_indices([config.DEMO_DIR, Path(".")])]
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
    return webapp.index_status(st.session_state.get(INDEX_KEY) or webapp.default_index_dir())


def require_index() -> Any:
    """The loaded index of the sidebar choice, or a help message and a stopped page."""
    status = current_status()
    if not status.ready:
        st.info(f"**{status.message}**\n\nTo create one, {status.hint}.", icon=":material/info:")
        st.stop()
    try:
        return load_index(str(status.path.resolve()), status.token)
    except AuditError as exc:
        st.error(webapp.format_error(exc))
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
                st.markdown(f"**{webapp.escape_markdown(card.title)}**")
                st.caption(webapp.escape_markdown(card.details))

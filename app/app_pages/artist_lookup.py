"""Artist lookup page: offline "Have I Been Trained?" — by artist name or by image, with the reasons."""

from __future__ import annotations

import streamlit as st

import app_common
from audit.errors import AuditError
from audit.optout.lookup import hits_frame, lookup_artist, lookup_image

st.title("Have I been trained?")
status = app_common.current_status()
if not status.ready:
    st.warning(status.message)
    st.stop()
st.caption(f"{status.summary} · `{status.path}`")

mode = st.radio("Look up", ["Artist name", "Image"], horizontal=True, key="optout_mode")
hits = None
try:
    if mode == "Artist name":
        name = st.text_input("Artist name", placeholder="Claude Monet", key="optout_artist")
        aliases = st.text_input("Other names (comma-separated)", placeholder="Monet, C. Monet", key="optout_aliases")
        if name.strip():
            alias_list = tuple(a.strip() for a in aliases.split(",") if a.strip())
            hits = lookup_artist(name, status.path, alias_list)
            st.caption("Whole-word matches in author and caption (\"Monet\" does not match \"Monetti\"); "
                       "a one-word name must be capitalised in captions.")
    else:
        upload = st.file_uploader("Upload an image", type=["png", "jpg", "jpeg", "webp", "gif", "bmp"], key="optout_upload")
        min_score = st.slider("CLIP similarity threshold", 0.5, 1.0, 0.9, 0.01, key="optout_min")
        if upload is not None:
            st.image(upload.getvalue(), caption=upload.name, width=192)
            hits = lookup_image(upload.getvalue(), status.path, min_score=min_score, label=upload.name)
except AuditError as exc:
    st.error(f"{exc.message}" + (f" — {exc.hint}" if exc.hint else ""))
    st.stop()

if hits is None:
    st.caption("Enter a name or upload an image.")
    st.stop()
if not hits:
    st.success("No training item found for this query.")
    st.stop()
st.subheader(f"{len(hits)} training item(s) found")
st.dataframe(hits_frame(hits), hide_index=True, use_container_width=True)

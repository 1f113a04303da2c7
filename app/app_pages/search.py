"""Search page: text or uploaded image → nearest training images, with who made them and under which licence."""

from __future__ import annotations

import app_common
import app_display
import streamlit as st
from PIL import Image

from audit.errors import AuditError
from audit.images import load_upload
from audit.index.quality import quality_summary
from audit.index.search import query_index

st.title("Search the training set")
index = app_common.require_index()
status = app_common.current_status()
st.caption(f"{status.summary} · `{status.path}`")

mode = st.radio("Query by", ["Text", "Image"], horizontal=True, key="search_mode")
k = st.slider("Results", min_value=1, max_value=50, value=12, key="search_k")

query: str | Image.Image | None = None
text_mode = None
if mode == "Text":
    modes = ["hybrid", "clip", "keyword"] if index.captions is not None else ["clip"]
    text_mode = st.radio("Match on", modes, horizontal=True, key="search_text_mode",
                         help="hybrid: caption words and CLIP, fused by reciprocal rank · clip: image similarity to the "
                              "text · keyword: whole words (and plurals) of the captions")
    text = st.text_input("Describe the image", value=st.query_params.get("q", ""),
                         placeholder="a red car", key="search_text")
    if text.strip():
        st.query_params["q"] = text
        query = text
    else:
        st.query_params.pop("q", None)
else:
    upload = st.file_uploader("Upload an image", type=list(app_display.UPLOAD_TYPES), key="search_upload")
    if upload is not None:
        try:
            image = load_upload(upload.getvalue(), upload.name)
            query = image
        except AuditError as exc:
            st.error(app_display.format_error(exc))
            st.stop()
        st.image(image, caption=f"query: {upload.name}", width=192)

if query is None:
    st.caption("Type a description or upload an image to find the closest training images.")
    st.stop()

try:
    with st.spinner("Searching…"):
        cards = app_display.hit_cards(query_index(index, query, k=k, mode=text_mode), index)
except AuditError as exc:
    st.error(app_display.format_error(exc))
    st.stop()

if not cards:
    st.warning("The index returned no results.")
    st.stop()
st.subheader(f"{len(cards)} nearest training images")
if text_mode is not None and (note := quality_summary(index)):
    st.info(note)
app_common.hit_grid(cards)
with st.expander("As a table"):
    frame = app_display.cards_frame(cards)
    st.dataframe(frame, hide_index=True)
    st.download_button("Download CSV", frame.to_csv(index=False), file_name="search_results.csv", mime="text/csv")

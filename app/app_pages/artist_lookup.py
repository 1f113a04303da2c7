"""Artist lookup page: offline "Have I Been Trained?" — by artist name or by image, with the reasons."""

from __future__ import annotations

import app_common
import app_display
import streamlit as st

from audit import config
from audit.errors import AuditError
from audit.index.search import hits_frame
from audit.optout.lookup import (
    LookupHit,
    file_artist_optout,
    lookup_artist,
    lookup_image,
    parse_aliases,
)
from audit.optout.registry import SCOPES

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
            alias_list = parse_aliases(aliases)
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
    st.error(app_display.format_error(exc))
    st.stop()



def _opt_out_form(name: str, aliases: tuple[str, ...]) -> None:
    """File an artist opt-out into the SQLite registry (the same file `audit optout check/filter` read)."""
    with st.expander("File an opt-out for this artist", expanded=False):
        with st.form("optout_file_form"):
            reg = st.text_input("Registry file", value=str(config.optout_registry()), key="optout_registry")
            scope = st.selectbox("Scope", SCOPES, index=SCOPES.index("ai-training"), key="optout_scope")
            source = st.text_input("Requested by / source", key="optout_source")
            evidence = st.text_input("Evidence (request reference)", key="optout_evidence")
            submitted = st.form_submit_button("File opt-out")
        if submitted:
            try:
                entry, created = file_artist_optout(reg, name, aliases, scope=scope, source=source or "app",
                                                    evidence=evidence)
            except AuditError as exc:
                st.error(app_display.format_error(exc))
            else:
                verb = "Filed" if created else "Already registered"
                st.success(f"{verb}: opt-out #{entry.id} for artist '{entry.display}' ({entry.scope}) in `{reg}`")


if mode == "Artist name" and name.strip():
    _opt_out_form(name, alias_list)

if hits is None:
    st.caption("Enter an artist name to look up." if mode == "Artist name" else "Upload an image to look up.")
    st.stop()
if not hits:
    st.success("No training item found for this query.")
    st.stop()
n_items = len({h.key for h in hits})
st.subheader(f"{n_items} training item(s) found" + (f" · {len(hits)} matches" if len(hits) != n_items else ""))
st.dataframe(hits_frame(hits, LookupHit.COLUMNS), hide_index=True, width="stretch")

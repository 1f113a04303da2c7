"""Artist lookup page: offline "Have I Been Trained?" — by artist name, source URL or image; thumbnails, the artist's
opt-out status, filing or withdrawing an opt-out, and the list to download. UI only: audit.optout.lookup."""

from __future__ import annotations

from pathlib import Path

import app_common
import app_display
import streamlit as st

from audit.errors import AuditError
from audit.index.search import hits_frame
from audit.optout.lookup import (
    LookupHit,
    artist_optouts,
    file_artist_optout,
    lookup_artist,
    lookup_image,
    lookup_url,
    parse_aliases,
    withdraw_optout,
)
from audit.optout.registry import SCOPES

#: CLIP cosine for image lookups: at 0.9 the tiny CLIP matched a house to a drawing of a rock (0.936).
DEFAULT_MIN_SCORE = 0.95

st.title("Have I been trained?")
app_common.show_flash()
ws = app_common.workspace()
status = app_common.current_status()
if not status.ready:
    st.warning(status.message)
    st.stop()
st.caption(f"{status.summary} · `{status.path}`")
registry = st.text_input("Opt-out registry", value=str(ws.registry), key="optout_registry",
                         help="The workspace's registry: `audit optout check/filter` read the same file.")

mode = st.radio("Look up", ["Artist name", "Source URL", "Image"], horizontal=True, key="optout_mode")
hits = None
name = ""
alias_list: tuple[str, ...] = ()
try:
    if mode == "Artist name":
        name = st.text_input("Artist name", placeholder="Claude Monet", key="optout_artist")
        aliases = st.text_input("Other names (comma-separated)", placeholder="Monet, C. Monet", key="optout_aliases")
        if name.strip():
            alias_list = parse_aliases(aliases)
            hits = lookup_artist(name, status.path, alias_list)
            st.caption("Whole-word matches in author and caption (\"Monet\" does not match \"Monetti\"); "
                       "a one-word name must be capitalised in captions.")
    elif mode == "Source URL":
        url = st.text_input("Image URL, or a site/gallery URL ending in /", key="optout_url",
                            placeholder="https://example.com/gallery/")
        if url.strip():
            hits = lookup_url(url, status.path)
    else:
        upload = st.file_uploader("Upload an image", type=list(app_display.UPLOAD_TYPES), key="optout_upload")
        min_score = st.slider("CLIP similarity threshold", 0.5, 1.0, DEFAULT_MIN_SCORE, 0.01, key="optout_min",
                              help="Check each match by its thumbnail: the tiny CLIP gives unrelated drawings ~0.9.")
        if upload is not None:
            st.image(upload.getvalue(), caption=upload.name, width=192)
            with st.spinner("Comparing with the training set…"):
                hits = lookup_image(upload.getvalue(), status.path, min_score=min_score, label=upload.name)
except AuditError as exc:
    st.error(app_display.format_error(exc))
    st.stop()


def _status_and_form(name: str, aliases: tuple[str, ...]) -> None:
    """The artist's current opt-out(s) with a withdraw button, or the form to file one."""
    try:
        entries = artist_optouts(registry, name)
    except AuditError as exc:
        st.error(app_display.format_error(exc))
        return
    for e in entries:
        with st.container(border=True):
            st.success(f"**{e.display}** opted out of {e.scope} on **{e.received[:10]}** (entry #{e.id}, "
                       f"source: {e.source or 'unknown'}).", icon=":material/block:")
            with st.form(f"optout_withdraw_{e.id}"):
                reason = st.text_input("Reason for withdrawing", key=f"optout_withdraw_reason_{e.id}")
                if st.form_submit_button("Withdraw this opt-out"):
                    try:
                        withdraw_optout(registry, e.id, reason)
                    except AuditError as exc:
                        st.error(app_display.format_error(exc))
                    else:
                        app_common.flash(f"Withdrawn: opt-out #{e.id} of '{e.display}' is no longer active.")
                        st.rerun()
    with st.expander("File an opt-out for this artist", expanded=not entries):
        with st.form("optout_file_form"):
            scope = st.selectbox("Scope", SCOPES, index=SCOPES.index("ai-training"), key="optout_scope")
            source = st.text_input("Requested by / source", key="optout_source")
            evidence = st.text_input("Evidence (request reference)", key="optout_evidence")
            submitted = st.form_submit_button("File opt-out")
        if submitted:
            try:
                entry, created = file_artist_optout(registry, name, aliases, scope=scope, source=source or "app",
                                                    evidence=evidence)
            except AuditError as exc:
                st.error(app_display.format_error(exc))
            else:
                verb = "Filed" if created else "Already registered"
                app_common.flash(f"{verb}: opt-out #{entry.id} for artist '{entry.display}' ({entry.scope}) in "
                                 f"`{registry}`")
                st.rerun()


if mode == "Artist name" and name.strip():
    _status_and_form(name, alias_list)

if hits is None:
    st.caption({"Artist name": "Enter an artist name to look up.", "Source URL": "Enter a URL to look up.",
                "Image": "Upload an image to look up."}[mode])
    st.stop()
if not hits:
    st.success("No training item found for this query.")
    st.stop()
n_items = len({h.key for h in hits})
st.subheader(f"{n_items} training item(s) found" + (f" · {len(hits)} matches" if len(hits) != n_items else ""))
frame = hits_frame(hits, LookupHit.COLUMNS)
st.download_button("Download the list (CSV)", frame.to_csv(index=False), file_name="training_items.csv",
                   mime="text/csv", key="optout_download")
index_root = Path(status.path)
app_common.hit_grid(app_display.lookup_cards(hits, index_root))
with st.expander("As a table"):
    st.dataframe(frame, hide_index=True, width="stretch")

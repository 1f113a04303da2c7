"""Removal requests page: the GDPR queue (overdue first) and one request through every state — log, verify, locate
(candidate thumbnails), confirm, erase with progress, the letter, the audit-log check. UI only: audit.removal."""

from __future__ import annotations

from pathlib import Path

import app_common
import app_display
import pandas as pd
import streamlit as st

from audit.errors import AuditError
from audit.index.layout import is_index_dir, key_paths
from audit.removal import (
    affected_models,
    candidates,
    confirm_hits,
    confirmed_keys,
    connect,
    create_request,
    erase,
    get_request,
    letter_markdown,
    list_requests,
    locate,
    transition,
)
from audit.removal.seal import verify
from audit.removal.store import NEEDS_REASON, manual_next

st.title("Removal requests")
app_common.show_flash()
ws = app_common.workspace()
db = Path(st.text_input("Request database", value=str(ws.requests), key="removal_db"))
index_dir = ws.removal_index
st.caption(f"Requests are located in and erased from the index `{index_dir}` (the workspace's removal index).")


def _fail(exc: AuditError) -> None:
    st.error(app_display.format_error(exc))


with st.expander("Log a new request"):
    with st.form("removal_new"):
        name = st.text_input("Subject's name", key="removal_new_name")
        contact = st.text_input("Contact (e-mail)", key="removal_new_contact")
        if st.form_submit_button("Log request"):
            try:
                r = create_request(connect(db), name, contact)
            except AuditError as exc:
                _fail(exc)
            else:
                st.session_state["removal_pick"] = r.id
                app_common.flash(f"Request #{r.id} logged; answer due {r.as_dict()['deadline']}.")
                st.rerun()

if not db.is_file():
    st.info(f"No request database at `{db}` yet: log a request above.")
    st.stop()

try:
    conn = connect(db)
    rows = list_requests(conn, include_closed=st.toggle("Show closed", key="removal_closed"))
    check = verify(conn)
except AuditError as exc:
    _fail(exc)
    st.stop()
(st.caption if check.ok else st.error)(f"Tamper evidence: {check.entries} sealed change(s), {check.heads} signed head(s), "
                                       f"{'intact' if check.ok else 'FAILS verification: ' + '; '.join(check.problems)}")
if not rows:
    st.caption("No open requests.")
    st.stop()
st.dataframe(pd.DataFrame([{k: d[k] for k in ("id", "state", "overdue", "deadline", "received", "subject")}
                           for d in (r.as_dict() for r in rows)]), hide_index=True)

ids = [r.id for r in rows]
if st.session_state.get("removal_pick") not in ids:
    st.session_state.pop("removal_pick", None)
rid = st.selectbox("Request", ids, format_func=lambda i: f"#{i}", key="removal_pick")
req = get_request(conn, rid)
st.subheader(f"#{req.id} {req.subject or '(personal data removed on closing)'}: {req.state}")
if req.reason:
    st.caption(f"Reason on record: {req.reason}")

# --- locate: by the photo the subject sent, their URL, their name -----------------------------------------------
if req.state in ("verified", "located"):
    with st.expander("Locate the subject's items", expanded=req.state == "verified"):
        with st.form("removal_locate"):
            photo = st.file_uploader("Photo the subject sent", type=list(app_display.UPLOAD_TYPES), key="removal_photo")
            url = st.text_input("URL of their image", key="removal_url")
            by_name = st.text_input("Name in captions or author", value=req.subject or "", key="removal_name")
            if st.form_submit_button("Locate"):
                try:
                    with st.spinner("Searching the index…"):
                        found = locate(conn, rid, index_dir, photo=photo.getvalue() if photo is not None else None,
                                       url=url.strip() or None, name=by_name.strip() or None, actor="app")
                except AuditError as exc:
                    _fail(exc)
                else:
                    app_common.flash(f"{len({c.key for c in found})} candidate item(s) found: check each one below.")
                    st.rerun()

# --- candidates with thumbnails; confirm the ones that show the subject --------------------------------------------
cands = candidates(conn, rid)
if cands:
    keys = list(dict.fromkeys(c.key for c in cands))
    why = {k: ", ".join(f"{c.method} {c.score:.3f}" for c in cands if c.key == k) for k in keys}
    confirmed = set(confirmed_keys(conn, rid))
    paths = key_paths(index_dir, keys) if is_index_dir(index_dir) else {}
    st.markdown("**Candidates** — tick the items that really show the subject:")
    picked = []
    cols = st.columns(4)
    for i, key in enumerate(keys):
        with cols[i % 4].container(border=True):
            p = paths.get(key)
            if p is not None:
                st.image(app_common.load_thumbnail(str(p), p.stat().st_mtime_ns), width="stretch")
            else:
                st.caption(":grey[image no longer in the dataset]")
            if st.checkbox(key, value=key in confirmed, key=f"removal_c_{rid}_{key}",
                           disabled=req.state != "located"):
                picked.append(key)
            st.caption(app_display.escape_markdown(why[key]))
    if req.state == "located":
        if st.button("Confirm the ticked items", key="removal_confirm", disabled=not picked):
            try:
                confirm_hits(conn, rid, picked)
            except AuditError as exc:
                _fail(exc)
            else:
                app_common.flash(f"Confirmed {len(picked)} item(s): erase them when ready.")
                st.rerun()

# --- erase everywhere (resumable: a crash mid-way is finished by pressing again) --------------------------------------
if req.state in ("located", "erased") and confirmed_keys(conn, rid):
    label = "Erase everywhere" if req.state == "located" else "Finish the erasure (resume)"
    st.caption("Tombstones → hidden from search at once → manifest → files deleted → index rebuilt.")
    if st.button(label, type="primary", key="removal_erase"):
        try:
            with app_common.progress_status(f"Erasing request #{rid}'s items…"):
                result = erase(conn, rid, index_dir)
        except AuditError as exc:
            _fail(exc)
        else:
            app_common.flash(f"Erased {len(result.keys)} item(s): request #{rid} is {result.state}.")
            st.rerun()

# --- the letter to the subject ---------------------------------------------------------------------------------
if req.state in ("index_rebuilt", "confirmed", "closed", "rejected", "exempted"):
    try:
        models = affected_models(conn, rid, [ws.generator]) if req.state not in ("rejected", "exempted") else None
        letter = letter_markdown(conn, rid, models=models)
    except AuditError as exc:
        _fail(exc)
    else:
        with st.expander("Letter to the subject", expanded=True):
            st.markdown(letter)
        st.download_button("Download the letter (Markdown)", letter, file_name=f"erasure-request-{rid}.md",
                           mime="text/markdown", key="removal_letter")

# --- move to the next state by hand -----------------------------------------------------------------------------------
nxt = manual_next(req)
if nxt:
    with st.form("removal_move"):
        to = st.selectbox("Move to", nxt, key="removal_to")
        reason = st.text_input("Reason (needed for rejected / extended / exempted)", key="removal_reason")
        if st.form_submit_button("Apply"):
            if to in NEEDS_REASON and not reason.strip():
                st.error(f"Moving to '{to}' needs a reason: type it in the Reason box (the subject is told why).")
            else:
                try:
                    r = transition(conn, rid, to, expected=req.state, reason=reason or None, actor="app")
                except AuditError as exc:
                    _fail(exc)
                else:
                    app_common.flash(f"Request #{r.id} is now {r.state}.")
                    st.rerun()

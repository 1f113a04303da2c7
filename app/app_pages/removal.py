"""Removal requests page: the GDPR queue (overdue first), one request's candidates, and state changes with an
optimistic check, all through audit.removal. Erasure itself runs from the CLI (`audit removal erase`)."""

from __future__ import annotations

from pathlib import Path

import app_display
import pandas as pd
import streamlit as st

from audit import config
from audit.errors import AuditError

st.title("Removal requests")
db = Path(st.text_input("Request database", value=str(config.removal_db()), key="removal_db"))

with st.expander("Log a new request"):
    with st.form("removal_new"):
        name = st.text_input("Subject's name")
        contact = st.text_input("Contact (e-mail)")
        if st.form_submit_button("Log request"):
            from audit.removal import connect, create_request

            try:
                r = create_request(connect(db), name, contact)
                st.success(f"Request #{r.id} logged; answer due {r.as_dict()['deadline']}.")
            except AuditError as exc:
                st.error(app_display.format_error(exc))

if not db.is_file():
    st.info(f"No request database at `{db}` yet: log a request above or run `audit removal new --removal-db {db}`.")
    st.stop()

from audit.removal import candidates, connect, get_request, list_requests, transition  # noqa: E402
from audit.removal.seal import verify  # noqa: E402
from audit.removal.store import manual_next  # noqa: E402

try:
    conn = connect(db)
    rows = list_requests(conn, include_closed=st.toggle("Show closed", key="removal_closed"))
    check = verify(conn)
except AuditError as exc:
    st.error(app_display.format_error(exc))
    st.stop()
(st.caption if check.ok else st.error)(f"Tamper evidence: {check.entries} sealed change(s), {check.heads} signed head(s), "
                                       f"{'intact' if check.ok else 'FAILS verification: ' + '; '.join(check.problems)}")
if not rows:
    st.caption("No open requests.")
    st.stop()
st.dataframe(pd.DataFrame([{k: d[k] for k in ("id", "state", "overdue", "deadline", "received", "subject")}
                           for d in (r.as_dict() for r in rows)]), hide_index=True)

rid = st.selectbox("Request", [r.id for r in rows], format_func=lambda i: f"#{i}", key="removal_pick")
req = get_request(conn, rid)
st.subheader(f"#{req.id} {req.subject or '(personal data removed on closing)'}: {req.state}")
cands = candidates(conn, rid)
if cands:
    st.dataframe(pd.DataFrame([c.__dict__ for c in cands]), hide_index=True)
nxt = manual_next(req)
if nxt:
    with st.form("removal_move"):
        to = st.selectbox("Move to", nxt)
        reason = st.text_input("Reason (needed for rejected / extended / exempted)")
        if st.form_submit_button("Apply"):
            try:
                r = transition(conn, rid, to, expected=req.state, reason=reason or None, actor="app")
                st.success(f"Request #{r.id} is now {r.state}.")
            except AuditError as exc:
                st.error(app_display.format_error(exc))
if req.state == "located":
    st.caption(f"Confirm hits and erase from the CLI: `audit removal confirm-hits {rid} KEY…` then "
               f"`audit removal erase {rid} --index INDEX --removal-db {db}`.")

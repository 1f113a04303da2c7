"""Memorisation page: open a scan report, filter by verdict, inspect a pair, record a reviewer decision.

UI only: reading the report and storing decisions is audit.memorisation.review.
"""

from __future__ import annotations

from pathlib import Path

import app_display
import streamlit as st

from audit import config
from audit.errors import AuditError
from audit.memorisation import review


def _clean(value) -> str:
    """'' for None/NA/NaN (pandas gives NA for images without a decision), else the value as text."""
    import pandas as pd

    return "" if value is None or pd.isna(value) else str(value)


st.title("Memorisation review")
report_dir = st.text_input("Report directory (written by `audit memorisation scan`)",
                           value=str(config.report_dir()), key="memo_report")
try:
    frame = review.reviewed_matches(report_dir)
except AuditError as exc:
    st.error(app_display.format_error(exc))
    st.stop()

counts = frame["verdict"].value_counts()
cols = st.columns(4)
for col, label in zip(cols, ("copy", "similar", "novel")):
    col.metric(label, int(counts.get(label, 0)))
cols[3].metric("reviewed", int(frame["decision"].notna().sum()))
if (Path(report_dir) / "report.html").is_file():
    st.download_button("Download report.html", (Path(report_dir) / "report.html").read_bytes(),
                       file_name="report.html", mime="text/html")

chosen = st.multiselect("Verdicts", ["copy", "similar", "novel"], default=["copy", "similar"], key="memo_filter")
only_open = st.checkbox("Only images without a decision", value=False, key="memo_open")
shown = review.filter_matches(frame, chosen, only_undecided=only_open)
if shown.empty:
    st.info("No images match the filter.")
    st.stop()
table_cols = ["query_path", "verdict", "match_key", "score", "tiled_l2", "inliers", "ssim", "duplicate_count", "decision"]
st.dataframe(shown[table_cols], hide_index=True)

query = st.selectbox("Open a pair", shown["query_path"].tolist(), format_func=lambda p: Path(p).name, key="memo_pair")
row = shown[shown["query_path"] == query].iloc[0]
left, right = st.columns(2)
q_img, m_img = app_display.thumbnail(row["query_path"], 384), app_display.thumbnail(_clean(row["match_path"]) or None, 384)
if q_img is not None:
    left.image(q_img, caption="generated")
else:
    left.warning("generated image unavailable")
if m_img is not None:
    right.image(m_img, caption=f"training: {row['match_key']}")
else:
    right.warning("training image unavailable (index without stored pixels)")
st.markdown(f"**{row['verdict']}** — {app_display.escape_markdown(str(row['reasons']))}")
st.caption(f"author: {_clean(row.get('match_author')) or 'unknown'} · licence: {_clean(row.get('match_license')) or 'unknown'}"
           f" · occurrences in the training set: {_clean(row.get('duplicate_count')) or 'n/a'}")
st.code(str(row["scores"]).replace(" | ", "\n"), language=None)

with st.form("memo_review"):
    current = _clean(row.get("decision"))
    options = list(review.DECISIONS)
    decision = st.radio("Decision", options, index=options.index(current) if current in options else 0,
                        format_func=lambda d: d.replace("_", " "), horizontal=True)
    note = st.text_input("Note", value=_clean(row.get("note")))
    reviewer = st.text_input("Reviewer", value=st.session_state.get("memo_reviewer", ""))
    if st.form_submit_button("Save decision"):
        try:
            review.record(report_dir, query, decision, note, reviewer)
        except AuditError as exc:
            st.error(app_display.format_error(exc))
        else:
            st.session_state["memo_reviewer"] = reviewer
            st.success(f"Saved: {decision.replace('_', ' ')}")
            st.rerun()

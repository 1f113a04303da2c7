"""Memorisation page: run a scan with progress, open its report, inspect pairs at equal size, record a decision
(none preselected), download the report. UI only: audit.memorisation (run.scan_folder, review)."""

from __future__ import annotations

from pathlib import Path

import app_common
import app_display
import streamlit as st

from audit.errors import AuditError
from audit.generate.samples_layout import is_samples_dir
from audit.memorisation import review

PAIR_SIDE = 384
NEXT_REPORT = "memo_report_next"


def _clean(value: object) -> str:
    """'' for None/NA/NaN (pandas gives NA for images without a decision), else the value as text."""
    import pandas as pd

    return "" if value is None or pd.isna(value) else str(value)


st.title("Memorisation review")
app_common.show_flash()
ws = app_common.workspace()
if NEXT_REPORT in st.session_state:  # a scan just finished: open its report
    st.session_state["memo_report"] = st.session_state.pop(NEXT_REPORT)

with st.expander("Run a scan of generated images", expanded=False):
    roots = [ws.root, ws.runs]
    found = sorted({str(d) for r in roots if r.is_dir() for d in r.iterdir() if d.is_dir() and is_samples_dir(d)})
    folder = st.selectbox("Folder of generated images", found, index=None, key="memo_scan_pick", accept_new_options=True,
                          placeholder="pick a samples folder or type a path…")
    st.caption(f"Compared with the generator's training index `{ws.training_index}`; the report is written to "
               f"`{ws.runs}`.")
    if st.button("Scan", key="memo_scan_go", disabled=not folder):
        from audit.memorisation.run import scan_folder

        out = ws.run_dir("scan", app_common.run_stamp())
        try:
            with app_common.progress_status(f"Scanning {Path(str(folder)).name}…"):
                summary = scan_folder(Path(str(folder)).expanduser(), ws.training_index, out)
        except AuditError as exc:
            st.error(app_display.format_error(exc))
        else:
            st.session_state[NEXT_REPORT] = str(out)
            app_common.flash(f"Scanned {summary['images']} image(s): {summary['counts']} → `{out}`")
            st.rerun()

report_dir = st.text_input("Report directory", value=str(ws.report), key="memo_report",
                           help="Written by a scan above or by `audit memorisation scan`.")
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
report_html = Path(report_dir) / "report.html"
if report_html.is_file():
    st.download_button("Download report.html", report_html.read_bytes(), file_name="report.html", mime="text/html",
                       key="memo_download")

chosen = st.multiselect("Verdicts", ["copy", "similar", "novel"], default=["copy", "similar"], key="memo_filter")
only_open = st.checkbox("Only images without a decision", value=False, key="memo_open")
shown = review.filter_matches(frame, chosen, only_undecided=only_open)
if shown.empty:
    st.info("No images match the filter.")
    st.stop()
table_cols = ["query_path", "verdict", "match_key", "score", "tiled_l2", "inliers", "ssim", "duplicate_count", "decision"]
st.dataframe(review.display_frame(shown, table_cols), hide_index=True)

paths = shown["query_path"].tolist()
if st.session_state.get("memo_pair") not in paths:
    st.session_state.pop("memo_pair", None)
query = st.selectbox("Open a pair", paths, format_func=lambda p: Path(p).name, key="memo_pair")
row = shown[shown["query_path"] == query].iloc[0]
left, right = st.columns(2)
q_img, m_img = app_display.thumbnail(row["query_path"], 1024), app_display.thumbnail(_clean(row["match_path"]) or None, 1024)
if q_img is not None:
    left.image(app_display.at_side(q_img, PAIR_SIDE), caption=f"generated ({q_img.width}×{q_img.height} px)",
               width=PAIR_SIDE)
else:
    left.warning("generated image unavailable")
if m_img is not None:
    right.image(app_display.at_side(m_img, PAIR_SIDE),
                caption=f"training: {row['match_key']} ({m_img.width}×{m_img.height} px)", width=PAIR_SIDE)
else:
    right.warning("training image unavailable (index without stored pixels)")
st.markdown(f"**{row['verdict']}** — {app_display.escape_markdown(str(row['reasons']))}")
repeats = review.training_repeats(ws.generator).get(_clean(row.get("match_key")))
copies = _clean(row.get("duplicate_count"))
st.caption(f"author: {_clean(row.get('match_author')) or 'unknown'} · licence: {_clean(row.get('match_license')) or 'unknown'}"
           f" · near-copies stored in the training set: {copies or 'not counted'}"
           + (f" · the generator saw it ×{repeats} per epoch" if repeats else ""))
st.code(str(row["scores"]).replace(" | ", "\n"), language=None)

current = _clean(row.get("decision"))
if current:
    st.caption(f"Recorded decision: **{current.replace('_', ' ')}** by {_clean(row.get('reviewer')) or 'unknown'}")
with st.form("memo_review"):
    options = list(review.DECISIONS)
    decision = st.radio("Decision", options, index=options.index(current) if current in options else None,
                        format_func=lambda d: d.replace("_", " "), horizontal=True, key=f"memo_decision_{query}")
    note = st.text_input("Note", value=_clean(row.get("note")))
    reviewer = st.text_input("Reviewer", value=st.session_state.get("memo_reviewer", ""))
    if st.form_submit_button("Save decision"):
        if decision is None:
            st.error("Pick a decision first: confirmed (a real copy) or false positive.")
        else:
            try:
                review.record(report_dir, query, decision, note, reviewer)
            except AuditError as exc:
                st.error(app_display.format_error(exc))
            else:
                st.session_state["memo_reviewer"] = reviewer
                app_common.flash(f"Saved: {Path(query).name} → {decision.replace('_', ' ')}")
                st.rerun()

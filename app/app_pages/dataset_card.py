"""Dataset card page: what the indexed training set holds, with drill-down into duplicate clusters, concepts and the
rows an opt-out registry or removal requests name (the same inputs as `audit dataset card --registry/--removal-db`)."""

from __future__ import annotations

import json
from pathlib import Path

import app_common
import app_display
import pandas as pd
import streamlit as st

from audit.card import DEFAULT_PROMPTS, build_card, parse_prompts, prompts_text, render_html
from audit.card import inputs as card_inputs
from audit.errors import AuditError

st.title("Dataset card")
ws = app_common.workspace()
status = app_common.current_status()
if not status.ready:
    app_common.require_index()  # says why and how to build one
st.caption(f"{status.summary} · `{status.path}`")


@st.cache_resource(show_spinner="Computing the dataset card…", max_entries=8)
def _card(path: str, token: str, prompts: str, registry: str, registry_token: str, requests: str,
          requests_token: str, mirror: bool):
    """Tokens change with the files, so a newly filed opt-out or request shows on the next run. A resource cache
    (no copy per run: st.cache_data unpickled the whole card, clusters and examples, on every rerun)."""
    return build_card(path, prompts=parse_prompts(prompts, "the prompt list"), registry=registry or None,
                      requests=requests or None, mirror=mirror)


@st.cache_resource(show_spinner=False, max_entries=4)
def _files(path: str, token: str, prompts: str, registry: str, registry_token: str, requests: str,
           requests_token: str, mirror: bool) -> tuple[str, str]:
    """card.html and card.json of the cached card (same key)."""
    card = _card(path, token, prompts, registry, registry_token, requests, requests_token, mirror)
    return render_html(card), json.dumps({"card": card.to_dict()}, default=str, indent=1)


def _images(members: list[dict], columns: int = 6) -> None:
    for start in range(0, len(members), columns):
        cols = st.columns(columns)
        for col, m in zip(cols, members[start:start + columns]):
            p = Path(m["path"])
            with col:
                try:
                    st.image(app_common.load_thumbnail(str(p), p.stat().st_mtime_ns), width="stretch")
                except OSError:
                    st.caption(":grey[image file not found]")
                st.caption(app_display.escape_markdown(str(m["key"])) + (" · flipped" if m.get("mirrored") else ""))


with st.expander("Concept prompts (one `group: prompt` per line; people groups are reported in aggregate only)"):
    prompt_text = st.text_area("Prompts", value=prompts_text(DEFAULT_PROMPTS), height=220, key="card_prompts")

with st.expander("Opt-out registry and removal requests (as `audit dataset card --registry/--removal-db`)"):
    registry_text = st.text_input("Opt-out registry (SQLite file of `audit optout`; blank: not checked)",
                                  value=str(ws.registry) if ws.registry.is_file() else card_inputs.default_registry(),
                                  key="card_registry")
    requests_text = st.text_input("Removal requests (request DB of `audit removal`, or a text/CSV/parquet list of "
                                  "erased keys; blank: not checked)",
                                  value=str(ws.requests) if ws.requests.is_file() else card_inputs.default_requests(),
                                  key="card_requests")
mirror = st.checkbox("Count horizontally flipped copies as near duplicates", value=True, key="card_mirror")
registry_path = card_inputs.optional_path(registry_text)
requests_path = card_inputs.optional_path(requests_text)

try:
    card = _card(str(status.path.resolve()), status.token, prompt_text, str(registry_path or ""),
                 card_inputs.file_token(registry_path), str(requests_path or ""), card_inputs.file_token(requests_path),
                 mirror)
except AuditError as exc:
    st.error(app_display.format_error(exc))
    st.stop()

for w in card.warnings:
    st.warning(w)
if card.rows == 0:
    st.info("This manifest has no rows: there is nothing to describe.")
    st.stop()

c = st.columns(5)
c[0].metric("Rows", card.rows)
c[1].metric("Authors", card.authors_total)
c[2].metric("Licences", len(card.licenses))
c[3].metric("Exact-duplicate clusters", len(card.exact_duplicates))
c[4].metric("Near-duplicate clusters", len(card.near_duplicates))

overview, dups, concepts, flagged, download = st.tabs(["Overview", "Duplicates", "Concepts",
                                                        "Opt-outs & removals", "Download"])
with overview:
    left, right = st.columns(2)
    left.subheader("Licences")
    left.dataframe(pd.DataFrame(card.licenses, columns=["license", "rows"]), hide_index=True)
    right.subheader("Sources")
    right.dataframe(pd.DataFrame(card.sources, columns=["source", "rows"]), hide_index=True)
    left.subheader("Top authors")
    left.dataframe(pd.DataFrame(card.authors_top, columns=["author", "rows"]), hide_index=True)
    left.caption(f"Long tail: {card.authors_tail['values']} further authors, {card.authors_tail['rows']} rows.")
    right.subheader("Missing values (shown as (unknown))")
    right.dataframe(pd.DataFrame(list(card.unknown.items()), columns=["column", "rows unknown"]), hide_index=True)
    cap = card.captions
    st.subheader("Captions")
    st.caption(f"{cap['with_caption']} with a caption, {cap['without_caption']} without; words {cap['words']}. "
               f"Language: {cap['language_method']}")
    st.dataframe(pd.DataFrame(cap["languages"], columns=["language", "rows"]), hide_index=True)

with dups:
    kind = st.radio("Clusters", ["near-duplicate", "exact"], horizontal=True, key="card_dup_kind")
    clusters = card.near_duplicates if kind == "near-duplicate" else card.exact_duplicates
    st.caption(card.duplicate_method)
    if not clusters:
        st.info(f"No {kind} clusters.")
    else:
        pick = st.selectbox("Cluster", range(len(clusters)), key="card_cluster",
                            format_func=lambda i: f"#{i + 1}: {len(clusters[i])} images ({clusters[i][0]['key']}, …)")
        _images(clusters[pick])

with concepts:
    st.caption(card.concept_note)
    if not card.concepts:
        st.info("No concept coverage computed.")
    else:
        group = st.selectbox("Group", [g["group"] for g in card.concepts], key="card_group")
        g = next(x for x in card.concepts if x["group"] == group)
        table = pd.DataFrame([{k: p[k] for k in ("prompt", "count", "share", "mean_confidence")} for p in g["prompts"]])
        st.bar_chart(table, x="prompt", y="count", horizontal=True)
        st.dataframe(table, hide_index=True)
        if g["aggregate_only"]:
            st.caption("People-related group: reported in aggregate only, no images shown.")
        else:
            prompt = st.selectbox("Concept", [p["prompt"] for p in g["prompts"]], key="card_concept")
            p = next(x for x in g["prompts"] if x["prompt"] == prompt)
            st.caption(f"{p['count']} images assigned; the {len(p['examples'])} highest-scoring shown.")
            _images(p["examples"])

with flagged:
    for label, fig, missing in (("Opted-out rows", card.optout, "No opt-out registry given (see the box above)."),
                                ("Rows named by removal requests", card.removal,
                                 "No removal requests given (see the box above).")):
        st.subheader(label)
        if fig is None:
            st.info(missing)
            continue
        n_rows = len(fig["keys"])
        st.metric(label, f"{n_rows} ({100 * fig['share']:.1f}%)")
        if "by_rule" in fig:
            st.caption(f"{fig['entries_active']} active entries in `{fig['registry']}`; rows by rule: {fig['by_rule']}")
        else:
            st.caption(f"`{fig['requests']}`: {fig['erased_keys_listed']} erased items listed, "
                       f"{fig['rows_still_present']} still present, {fig['rows_requested']} named by requests")
        st.caption(fig["method"])
        if n_rows and st.toggle(f"Show the images ({min(n_rows, len(fig['examples']))} of {n_rows})",
                                key=f"card_show_{'optout' if 'by_rule' in fig else 'removal'}"):
            _images(fig["examples"])

with download:
    # render_html embeds every example thumbnail (~30 s on the demo set): only on request, then cached with the card
    if st.button("Prepare card.html and card.json", key="card_prepare") or st.session_state.get("card_prepared"):
        st.session_state["card_prepared"] = True
        with st.spinner("Rendering the card…"):
            html_text, json_text = _files(str(status.path.resolve()), status.token, prompt_text, str(registry_path or ""),
                                          card_inputs.file_token(registry_path), str(requests_path or ""),
                                          card_inputs.file_token(requests_path), mirror)
        st.download_button("card.html", html_text, file_name="card.html", mime="text/html")
        st.download_button("card.json", json_text, file_name="card.json", mime="application/json")

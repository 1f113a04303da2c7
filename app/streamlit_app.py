"""genaudit review app: `streamlit run app/streamlit_app.py` or `audit app [--index DIR]`.

The index directory comes from the sidebar (default: $GENAUDIT_INDEX, else demo/index).
Adding a page = one line in PAGES; each page is a file in app_pages/ holding UI only.
"""

from __future__ import annotations

import app_common
import streamlit as st
from app_display import APP_TITLE

st.set_page_config(page_title=APP_TITLE, page_icon=":material/policy:", layout="wide")

PAGES = [
    st.Page("app_pages/search.py", title="Search", icon=":material/search:", default=True),
    st.Page("app_pages/artist_lookup.py", title="Have I been trained?", icon=":material/person_search:"),
    st.Page("app_pages/memorisation.py", title="Memorisation review", icon=":material/compare:"),
    st.Page("app_pages/provenance.py", title="Provenance", icon=":material/verified:"),
    st.Page("app_pages/generate.py", title="Generate", icon=":material/brush:"),
    st.Page("app_pages/dataset_card.py", title="Dataset card", icon=":material/description:"),
    st.Page("app_pages/removal.py", title="Removal requests", icon=":material/delete_forever:"),
]

app_common.sidebar_index_picker()
st.navigation(PAGES).run()

"""The Streamlit review app (`audit app`). UI only: every rule it shows lives in `audit/`.

Streamlit runs `streamlit_app.py` as a script with this folder on sys.path, so the pages import their helpers as
flat modules (`import app_common`, `import app_display`); tests import them as `app.app_display`.
"""

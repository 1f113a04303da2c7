"""Training sets: real reference images (Debian/PyPI packages), synthetic controlled sets, and ingest.

Heavy work lives in the submodules; import them directly (`audit.dataset.reference`, ...).
"""

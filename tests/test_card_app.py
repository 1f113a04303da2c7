"""The dataset card app page over a real tiny index: metrics, drill-down into a near-duplicate cluster and
into concepts (people groups aggregate only), driven by streamlit.testing.v1.AppTest."""

from __future__ import annotations

import pytest

from test_card_build import MODEL, make_dataset


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict:
    import torch

    torch.set_num_threads(1)
    from audit.index import build_index

    root = tmp_path_factory.mktemp("cardapp")
    ds = make_dataset(root / "ds")
    return {"ds": ds, "index": build_index(ds, root / "index", model=MODEL)}


def test_app_page_drilldown(world, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from audit import webapp

    monkeypatch.setenv(webapp.INDEX_ENV, str(world["index"]))
    at = AppTest.from_file(str(webapp.APP_SCRIPT), default_timeout=120).run()
    at.switch_page("app_pages/dataset_card.py").run()
    assert not at.exception and at.title[0].value == "Dataset card"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Rows"] == "10" and metrics["Exact-duplicate clusters"] == "2"
    cluster = at.selectbox(key="card_cluster")
    labels = list(cluster.options)
    sail = next(i for i, lab in enumerate(labels) if "sail" in lab)
    cluster.set_value(sail).run()
    assert not at.exception and len(at.image) >= 2
    shown = [c.value for c in at.caption]
    assert "sail\\_small" in shown or "sail_small" in shown
    at.selectbox(key="card_group").set_value("people").run()
    assert any("aggregate only" in c.value for c in at.caption)
    at.selectbox(key="card_group").set_value("style").run()
    assert not at.exception and any("highest-scoring shown" in c.value for c in at.caption)

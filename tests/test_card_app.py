"""The dataset card app page over a real tiny index (with a real flipped copy): metrics, drill-down into a
near-duplicate cluster and into concepts (people groups aggregate only), the opt-out registry and removal-request
inputs with drill-down into the rows they name, and a swapped database refused — driven by streamlit AppTest."""

from __future__ import annotations

import pytest
from test_card_build import DATA, MODEL, add_flipped, make_dataset


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict:
    import torch

    torch.set_num_threads(1)
    from audit.index import build_index
    from audit.optout.registry import open_registry
    from audit.removal import confirm_hits, connect, create_request, locate, transition

    root = tmp_path_factory.mktemp("cardapp")
    ds = add_flipped(make_dataset(root / "ds"))
    index = build_index(ds, root / "index", model=MODEL)
    with open_registry(root / "optout.db", create=True) as reg:
        reg.add("url", "https://img.example/oc_lemon")
    conn = connect(root / "requests.db")
    rid = create_request(conn, "Eileen Collins", "ec@example.org").id
    transition(conn, rid, "verified")
    locate(conn, rid, index, photo=DATA / "astronaut.jpg")
    confirm_hits(conn, rid, ["astronaut"])
    conn.close()
    return {"ds": ds, "index": index, "registry": root / "optout.db", "requests": root / "requests.db"}


def _page(world, monkeypatch, cwd):
    from streamlit.testing.v1 import AppTest

    from audit.app_cli import APP_SCRIPT
    from audit.index.status import INDEX_ENV

    monkeypatch.setenv(INDEX_ENV, str(world["index"]))
    monkeypatch.delenv("GENAUDIT_OPTOUT_REGISTRY", raising=False)
    monkeypatch.delenv("GENAUDIT_REMOVAL_DB", raising=False)
    monkeypatch.chdir(cwd)  # no optout.db in the cwd: the registry box starts blank
    at = AppTest.from_file(str(APP_SCRIPT), default_timeout=120).run()
    at.switch_page("app_pages/dataset_card.py").run()
    assert not at.exception and at.title[0].value == "Dataset card"
    return at


def test_app_page_drilldown(world, monkeypatch, tmp_path):
    at = _page(world, monkeypatch, tmp_path)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Rows"] == "11" and metrics["Exact-duplicate clusters"] == "2"
    assert any("(unknown)" in df.value.iloc[:, 0].tolist() for df in at.dataframe)  # unknown licence/author shown
    assert [i.value for i in at.info if "No opt-out registry given" in i.value]
    cluster = at.selectbox(key="card_cluster")
    labels = list(cluster.options)
    sail = next(i for i, lab in enumerate(labels) if "sail" in lab)
    cluster.set_value(sail).run()
    assert not at.exception and len(at.image) >= 2
    shown = [c.value for c in at.caption]
    assert "sail\\_small" in shown or "sail_small" in shown
    astro = next(i for i, lab in enumerate(labels) if "astronaut" in lab)  # the real flipped copy, from the index
    at.selectbox(key="card_cluster").set_value(astro).run()
    shown = [c.value for c in at.caption]
    assert sum("· flipped" in c for c in shown) == 1 and any(c.startswith("astronaut") for c in shown)
    at.selectbox(key="card_group").set_value("people").run()
    assert any("aggregate only" in c.value for c in at.caption)
    at.selectbox(key="card_group").set_value("style").run()
    assert not at.exception and any("highest-scoring shown" in c.value for c in at.caption)


def test_app_page_registry_and_requests(world, monkeypatch, tmp_path):
    at = _page(world, monkeypatch, tmp_path)
    at.text_input(key="card_registry").input(str(world["registry"]))
    at.text_input(key="card_requests").input(str(world["requests"])).run()
    assert not at.exception and not at.error
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Opted-out rows"] == "1 (9.1%)" and metrics["Rows named by removal requests"] == "1 (9.1%)"
    n_images, before_captions = len(at.image), [c.value for c in at.caption]
    assert "astronaut" not in before_captions
    at.toggle(key="card_show_optout").set_value(True)
    at.toggle(key="card_show_removal").set_value(True).run()
    assert not at.exception and len(at.image) == n_images + 2
    shown = [c.value.replace("\\", "") for c in at.caption]
    assert "oc_lemon" in shown and "astronaut" in shown
    # swapped: the request DB typed as the registry is refused on the page, not a traceback, and not modified
    from audit.meta import sha256_file

    before = sha256_file(world["requests"])
    at.text_input(key="card_registry").input(str(world["requests"])).run()
    assert not at.exception and "is a removal-request database" in at.error[0].value
    assert sha256_file(world["requests"]) == before
    at.text_input(key="card_registry").input("")
    at.checkbox(key="card_mirror").uncheck().run()  # and without the flip the astronaut pair is no cluster
    assert not at.error and {m.label for m in at.metric} >= {"Rows", "Rows named by removal requests"}
    assert not any("astronaut" in lab for lab in at.selectbox(key="card_cluster").options)
    assert [i.value for i in at.info if "No opt-out registry given" in i.value]

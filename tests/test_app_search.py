"""The review app over a real tiny index, driven by streamlit.testing.v1.AppTest (no server, no browser)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from app import app_display
from audit.app_cli import APP_SCRIPT
from audit.index.cache import open_index_ready
from audit.index.search import hit_image_path
from audit.index.status import INDEX_ENV
from audit.meta import make_meta, sha256_file, write_meta
from audit.records import write_manifest

MODEL = "genaudit-tiny-clip@random:0"
DATA = Path(__file__).resolve().parent / "data" / "images"
#: Real images (see tests/data/README.md) with their real captions, authors and licences.
FILES = ["oc_lemon.png", "oc_sailboat_illustration.png", "oc_saturn_dan_gerhards_01.png", "wp_LadyBird.jpg",
         "astronaut.jpg", "oc_home0.png"]
CAPTIONS = json.loads((DATA / "captions.json").read_text(encoding="utf-8"))
ITEMS = [(Path(f).stem, CAPTIONS[f]["caption"], CAPTIONS[f]["author"], CAPTIONS[f]["license"]) for f in FILES]
APP_TIMEOUT = 120


@pytest.fixture(scope="module")
def tiny_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dataset of six real images with their captions/authors/licences, indexed with the random-init tiny CLIP."""
    import imagehash

    from audit.index import build_index

    root = tmp_path_factory.mktemp("app")
    ds = root / "dataset"
    (ds / "images").mkdir(parents=True)
    rows = []
    for f in FILES:
        dest = ds / "images" / f
        shutil.copyfile(DATA / f, dest)
        with Image.open(dest) as img:
            size, phash = img.size, str(imagehash.phash(img.convert("RGB")))
        meta = CAPTIONS[f]
        rows.append(dict(key=Path(f).stem, path=f"images/{f}", url=None, caption=meta["caption"], width=size[0],
                         height=size[1], sha256=sha256_file(dest), phash=phash, author=meta["author"],
                         license=meta["license"], source=meta["source"]))
    write_manifest(pd.DataFrame(rows), ds)
    write_meta(ds, make_meta("dataset", count=len(rows)))
    return build_index(ds, root / "index", model=MODEL)


def _app(monkeypatch: pytest.MonkeyPatch, index_dir: Path):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv(INDEX_ENV, str(index_dir))
    return AppTest.from_file(str(APP_SCRIPT), default_timeout=APP_TIMEOUT)


def _unescape(s: str) -> str:
    return re.sub(r"\\(.)", r"\1", s)


def _texts(elements) -> list[str]:
    return [_unescape(e.value) for e in elements]


def _titles(at) -> list[str]:
    """The bold "rank. caption" line of each result card."""
    return [t.strip("*") for t in _texts(at.markdown) if re.match(r"\*\*\d+\. ", t)]


def test_text_query_shows_result_grid(monkeypatch: pytest.MonkeyPatch, tiny_index: Path) -> None:
    from audit.index import open_index

    at = _app(monkeypatch, tiny_index).run()
    assert not at.exception
    assert at.title[0].value == "Search the training set"
    assert at.text_input(key="index_dir").value == str(tiny_index)
    at.text_input(key="search_text").input("a lemon").run()
    assert not at.exception and not at.error
    expected = open_index(tiny_index).search_text("a lemon", k=12)
    assert len(expected) == len(ITEMS)
    titles = _titles(at)
    assert titles == [f"{h.rank}. {h.caption}" for h in expected]
    details = [c for c in _texts(at.caption) if c.startswith("matched: ")]
    for hit, line in zip(expected, details, strict=True):  # each card says which evidence matched
        assert hit.evidence in ("CLIP", "caption words", "both")
        assert line == f"matched: {hit.evidence} · score {hit.score:.3f} · {hit.author} · {hit.license} · key {hit.key}"
    assert expected[0].evidence == "both" and "lemon" in expected[0].caption.lower()  # hybrid by default
    assert len(at.image) == len(ITEMS)  # a thumbnail per card
    assert all(img.value and "/media/" in img.value[0] for img in at.image)
    assert "image file not found" not in " ".join(_texts(at.caption))
    assert at.query_params["q"] == "a lemon"  # shareable link


def test_k_slider_limits_results_and_query_param_prefills(monkeypatch: pytest.MonkeyPatch, tiny_index: Path) -> None:
    at = _app(monkeypatch, tiny_index)
    at.query_params["q"] = "a sailboat"
    at.run()
    at.slider(key="search_k").set_value(2).run()
    assert not at.exception
    assert at.text_input(key="search_text").value == "a sailboat"
    assert len(_titles(at)) == 2
    assert at.subheader[0].value == "2 nearest training images"


def test_image_upload_finds_itself_and_bad_upload_is_a_message(monkeypatch: pytest.MonkeyPatch,
                                                               tiny_index: Path) -> None:
    at = _app(monkeypatch, tiny_index).run()
    at.radio(key="search_mode").set_value("Image").run()
    at.file_uploader(key="search_upload").upload("query.jpg", (DATA / "wp_LadyBird.jpg").read_bytes(), "image/jpeg")
    at.run()
    assert not at.exception and not at.error
    titles = _titles(at)
    assert titles[0] == "1. " + CAPTIONS["wp_LadyBird.jpg"]["caption"]
    first = next(c for c in _texts(at.caption) if c.startswith("matched: "))
    assert first.startswith("matched: CLIP · score 1.000 ") and first.endswith("key wp_LadyBird")

    bad = Path(__file__).resolve().parent / "data" / "bad"
    for name, reason in (("notes.jpg", "not a supported image format"), ("truncated.jpg", "corrupt or truncated")):
        at.file_uploader(key="search_upload").clear().upload(name, (bad / name).read_bytes(), "image/jpeg")
        at.run()
        assert not at.exception
        assert len(at.error) == 1 and f"{name}: {reason}" in at.error[0].value
        assert not _titles(at)


def test_no_index_shows_how_to_build_one(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    at = _app(monkeypatch, tmp_path / "no-index-here").run()
    assert not at.exception
    assert len(at.info) == 1
    msg = at.info[0].value
    assert "No index at" in msg and "no-index-here" in msg
    assert "audit demo" in msg and "audit index build" in msg
    assert [w.key for w in at.text_input] == ["workspace_dir", "index_dir"]  # no search box without an index


def test_concurrent_sessions_load_the_same_model(tiny_index: Path) -> None:
    """Streamlit serves sessions from threads; indices opened at once must embed queries identically."""
    import threading

    import numpy as np

    ref = open_index_ready(tiny_index).embedder.embed_texts(["a lemon"])
    out: list = [None] * 3

    def open_and_embed(i: int) -> None:
        out[i] = open_index_ready(tiny_index).embedder.embed_texts(["a lemon"])

    threads = [threading.Thread(target=open_and_embed, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for vec in out:
        np.testing.assert_allclose(vec, ref, atol=1e-5)


def test_every_page_file_is_registered_and_opens(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A page file missing from PAGES, or a page crashing on a fresh machine (nothing built yet), fails here."""
    for var in ("GENAUDIT_REPORT", "GENAUDIT_GENERATOR"):
        monkeypatch.setenv(var, str(tmp_path / f"no-{var.lower()}"))
    at = _app(monkeypatch, tmp_path / "no-index").run()
    pages = sorted((APP_SCRIPT.parent / "app_pages").glob("*.py"))
    assert len(pages) >= 2
    for page in pages:
        title = re.search(r'^st\.title\("([^"]+)"\)', page.read_text(encoding="utf-8"), re.M)
        assert title, f"{page.name} has no st.title"
        at.switch_page(f"app_pages/{page.name}").run()
        assert not at.exception, (page.name, [e.value for e in at.exception])
        assert [t.value for t in at.title] == [title.group(1)], page.name


def test_cards_point_at_the_real_image_files(tiny_index: Path) -> None:
    import dataclasses

    idx = open_index_ready(tiny_index)
    hits = idx.search_text("a lemon", k=3)
    cards = app_display.hit_cards(hits, idx)
    assert [c.key for c in cards] == [h.key for h in hits]
    for card in cards:
        assert card.image_path is not None and card.image_path.is_file() and card.image_path.stem == card.key
    gone = dataclasses.replace(hits[0], id=idx.id_of("not-in-the-index"), path="images/missing.png")
    assert hit_image_path(idx, gone) is None  # the grid then says "image file not found"
    frame = app_display.cards_frame(cards)
    assert list(frame["key"]) == [h.key for h in hits] and all(Path(p).is_file() for p in frame["path"])


def test_default_is_demo_index_in_cwd_and_sidebar_offers_found_indices(monkeypatch: pytest.MonkeyPatch,
                                                                      tiny_index: Path, tmp_path: Path) -> None:
    from streamlit.testing.v1 import AppTest

    shutil.copytree(tiny_index, tmp_path / "demo" / "index")
    shutil.copytree(tiny_index, tmp_path / "runs" / "other-index")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(INDEX_ENV, raising=False)
    at = AppTest.from_file(str(APP_SCRIPT), default_timeout=APP_TIMEOUT).run()
    assert not at.exception and not at.info
    # resolved once, so a later change of working directory changes nothing (issue #21)
    demo, other = str((tmp_path / "demo" / "index").resolve()), str((tmp_path / "runs" / "other-index").resolve())
    assert at.text_input(key="index_dir").value == demo
    picker = at.selectbox(key="known_index")
    assert list(picker.options) == [demo, other]
    picker.select(other).run()
    assert at.text_input(key="index_dir").value == other
    at.text_input(key="search_text").input("a sailboat").run()
    assert not at.exception and len(_titles(at)) == len(ITEMS)
    assert "runs/other-index" in at.caption[0].value

"""audit.webapp: the logic behind the review app (status, discovery, formatting, uploads, launch command)."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from PIL import Image

from audit import cli, webapp
from audit.errors import ImageError, InputError
from audit.meta import make_meta, write_meta


def _png_bytes(size=(40, 30), colour=(200, 10, 10)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "PNG")
    return buf.getvalue()


def _index_dir(path: Path, count: int = 3, model: str = "genaudit-tiny-clip@random:0") -> Path:
    """A directory with the files index_status looks for (their contents are not read by it)."""
    path.mkdir(parents=True, exist_ok=True)
    write_meta(path, make_meta("index", count=count, model=model, dim=128))
    (path / "vectors.faiss").write_bytes(b"x" * 16)
    (path / "ids.parquet").write_bytes(b"y" * 16)
    return path


def test_default_index_dir_env_then_demo() -> None:
    assert webapp.default_index_dir({}) == Path("demo") / "index"
    assert webapp.default_index_dir({"GENAUDIT_INDEX": "  "}) == Path("demo") / "index"
    assert webapp.default_index_dir({"GENAUDIT_INDEX": "/data/idx"}) == Path("/data/idx")


def test_index_status_explains_each_unusable_case(tmp_path: Path) -> None:
    missing = webapp.index_status(tmp_path / "nope")
    assert not missing.ready and "No index at" in missing.message and str(tmp_path / "nope") in missing.message
    assert "audit demo" in missing.hint and "audit index build" in missing.hint

    assert not webapp.index_status("").ready
    assert not webapp.index_status(None).ready

    f = tmp_path / "file.txt"
    f.write_text("hi")
    assert "is a file" in webapp.index_status(f).message

    empty = tmp_path / "empty"
    empty.mkdir()
    st = webapp.index_status(empty)
    assert not st.ready and "meta.json" in st.message

    ds = tmp_path / "dataset"
    ds.mkdir()
    write_meta(ds, make_meta("dataset"))
    st = webapp.index_status(ds)
    assert not st.ready and "'dataset'" in st.message

    partial = tmp_path / "partial"
    partial.mkdir()
    write_meta(partial, make_meta("index", count=1, model="m"))
    (partial / "ids.parquet").write_bytes(b"y")
    st = webapp.index_status(partial)
    assert not st.ready and "vectors.faiss" in st.message and "ids.parquet" not in st.message


def test_index_status_ready_and_token_changes_on_rebuild(tmp_path: Path) -> None:
    idx = _index_dir(tmp_path / "idx", count=7, model="tiny")
    st = webapp.index_status(idx)
    assert st.ready and st.count == 7 and st.model == "tiny"
    assert "7 images" in st.summary and "tiny" in st.summary
    (idx / "vectors.faiss").write_bytes(b"z" * 32)  # a rebuild rewrites the vectors
    rebuilt = webapp.index_status(idx)
    assert rebuilt.token != st.token
    (idx / "denylist.parquet").write_bytes(b"d")  # a removal request denylists an item
    assert webapp.index_status(idx).token != rebuilt.token
    assert webapp.index_status(str(idx) + "  ").ready  # pasted paths with trailing blanks


def test_discover_indices_walks_dirs_but_skips_images_hidden_and_deep(tmp_path: Path) -> None:
    a = _index_dir(tmp_path / "demo" / "index")
    b = _index_dir(tmp_path / "b")
    _index_dir(tmp_path / "ds" / "images" / "idx")  # inside an images/ folder: not walked
    _index_dir(tmp_path / ".hidden" / "idx")
    _index_dir(tmp_path / "x" / "y" / "z")  # depth 3
    found = webapp.discover_indices([tmp_path / "demo", tmp_path, tmp_path / "absent"])
    assert found == [a, b]
    assert webapp.discover_indices([tmp_path], max_depth=3)[-1] == tmp_path / "x" / "y" / "z"


def test_escape_markdown_keeps_text_literal() -> None:
    raw = "*bold* _it_ [link](http://a.b) # 1. :smile: $x$ <b> a|b ~s~ `c`\nnext"
    esc = webapp.escape_markdown(raw)
    assert "\n" not in esc
    for ch in "*_[]()#.:$<>|~`":
        assert re.search(r"(?<!\\)" + re.escape(ch), esc) is None, ch
    assert re.sub(r"\\(.)", r"\1", esc) == raw.replace("\n", " ")


def test_read_upload_decodes_images_and_names_bad_files() -> None:
    img = webapp.read_upload(_png_bytes((40, 30)), "cat.png")
    assert img.mode == "RGB" and img.size == (40, 30)
    with pytest.raises(ImageError) as e:
        webapp.read_upload(b"this is a text file, not a picture", "notes.png")
    assert e.value.message.startswith("notes.png:") and "<bytes>" not in e.value.message
    assert e.value.hint
    with pytest.raises(ImageError, match="empty"):
        webapp.read_upload(b"", "zero.jpg")
    with pytest.raises(ImageError, match="truncated"):
        webapp.read_upload(_png_bytes((64, 64))[:80], "cut.png")


def test_thumbnail_downscales_and_tolerates_missing_or_broken(tmp_path: Path) -> None:
    p = tmp_path / "big.png"
    Image.new("RGB", (600, 300), (1, 2, 3)).save(p)
    assert webapp.thumbnail(p, 256).size == (256, 128)
    assert webapp.thumbnail(tmp_path / "missing.png") is None
    bad = tmp_path / "bad.png"
    bad.write_text("nope")
    assert webapp.thumbnail(bad) is None
    assert webapp.thumbnail(None) is None


def test_search_rejects_empty_text_and_bad_k_before_touching_the_index() -> None:
    with pytest.raises(InputError, match="empty"):
        webapp.search(None, "   ", k=5)
    with pytest.raises(InputError, match="k=0"):
        webapp.search(None, "a cat", k=0)


def test_streamlit_command_passes_index_port_and_headless(tmp_path: Path) -> None:
    cmd, env = webapp.streamlit_command(tmp_path / "idx", port=8765, headless=True, environ={"PATH": "/bin"})
    assert cmd[1:4] == ["-m", "streamlit", "run"] and cmd[4] == str(webapp.APP_SCRIPT)
    assert Path(cmd[4]).is_file()
    opts = dict(zip(cmd[5::2], cmd[6::2]))
    assert opts["--server.port"] == "8765" and opts["--server.headless"] == "true"
    assert opts["--server.showEmailPrompt"] == "false"  # never blocks on a prompt
    assert env["GENAUDIT_INDEX"] == str((tmp_path / "idx").resolve()) and env["PATH"] == "/bin"
    cmd, env = webapp.streamlit_command(None, environ={"GENAUDIT_INDEX": "rel/idx"})
    assert env["GENAUDIT_INDEX"] == str(Path("rel/idx").resolve())
    assert dict(zip(cmd[5::2], cmd[6::2]))["--server.headless"] == "false"
    for bad in (0, 70000):
        with pytest.raises(InputError, match="port"):
            webapp.streamlit_command(tmp_path, port=bad)


def test_cli_app_bad_port_is_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["app", "--port", "0", "--headless"]) == 2
    err = capsys.readouterr().err
    assert "--port 0 is not a TCP port" in err and "Traceback" not in err


def _hit(**kw):
    from audit.index import SearchHit

    base = dict(rank=1, id=42, key="k1", score=0.87654, path="images/k1.png", caption="a lemon", author="Ada",
                license="CC0-1.0", source="drawn", method="clip-text")
    return SearchHit(**{**base, **kw})


def test_hit_card_formats_scores_and_fills_blank_metadata() -> None:
    card = webapp.hit_card(_hit())
    assert card.title == "1. a lemon"
    assert card.details == "score 0.877 · Ada · CC0-1.0 · key k1"
    blank = webapp.hit_card(_hit(rank=3, caption="  ", author=None, license=float("nan"), key=""))
    assert blank.title == "3. (no caption)"
    assert blank.details == "score 0.877 · unknown author · licence unknown · key row 42"
    assert webapp.hit_card(_hit(score=-0.0123)).score_text == "-0.012"

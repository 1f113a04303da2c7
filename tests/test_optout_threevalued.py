"""Issue 17: the three-valued answer everywhere (CLI, API, check/filter, registry recording), the crawler table as
data, and the robots <-> signals import cycle gone."""

from __future__ import annotations

import ast
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from optout_server import D, image, jpeg_with_xmp, serve, xmp_packet  # noqa: F401 - serve is a fixture
from PIL import Image

from audit.cli import main
from audit.optout import crawlers
from audit.optout.registry import Registry
from audit.optout.site import check_url
from audit.optout.verdict import Verdict
from audit.records import read_manifest, write_manifest

ROOT = Path(__file__).parent.parent


def test_verdict_is_a_frozen_three_valued_answer(serve):
    base = serve({"/a.jpg": image([("X-Robots-Tag", "noai")]), "/b.jpg": image(), "/c.jpg": image([("X", "y")] * 150)})
    a, b, c = (check_url(base + p, timeout=5) for p in ("/a.jpg", "/b.jpg", "/c.jpg"))
    assert [v.status for v in (a, b, c)] == ["opted out", "not opted out", "unknown"]
    assert a.opted_out and not b.opted_out and not c.opted_out and c.is_unknown
    assert c.unknown and c.reason.startswith("unknown: could not read")
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.status = "not opted out"  # type: ignore[misc]
    assert dataclasses.is_dataclass(Verdict) and Verdict.__dataclass_params__.frozen


def test_cli_signals_prints_the_answer_for_the_use_and_records_only_known_reservations(tmp_path, capsys):
    h = tmp_path / "h.txt"
    h.write_text("HTTP/1.1 200 OK\nContent-Signal: search=yes, ai-input=no\n")
    assert main(["optout", "signals", "https://x.example/a.jpg", "--headers", str(h)]) == 0
    assert "use train: not opted out" in capsys.readouterr().out
    assert main(["optout", "signals", "https://x.example/a.jpg", "--headers", str(h), "--use", "ai-input"]) == 0
    assert "use ai-input: OPTED OUT" in capsys.readouterr().out
    assert main(["optout", "signals", "https://x.example/a.jpg", "--headers", str(h), "--use", "nope"]) == 2
    assert "unknown use 'nope'" in capsys.readouterr().err
    # a stored response with a value longer than the cap: UNKNOWN, and not recorded in the registry
    long = tmp_path / "long.txt"
    long.write_text("X-Robots-Tag: " + "x" * 300_000 + ", noai\n")
    db = tmp_path / "r.db"
    assert main(["optout", "signals", "https://x.example/b.jpg", "--headers", str(long), "--record", str(db)]) == 0
    out = capsys.readouterr().out
    assert "UNKNOWN" in out and "not recorded: the answer is unknown" in out
    assert main(["optout", "signals", "https://x.example/c.jpg", "--headers", str(h), "--use", "ai-input", "--record", str(db)]) == 0
    assert "recorded as #" in capsys.readouterr().out
    with Registry(db) as reg:
        f = reg.frame()
    assert len(f) == 1 and f["value"][0].endswith("x.example/c.jpg") and list(f["scope"]) == ["ai-input"]


@pytest.fixture()
def mixed_dataset(tmp_path):
    """Rows: 'deny' (XMP DMI-PROHIBITED), 'ok' (plain), 'gone' (image file missing), 'bad' (malformed URL), 'lookalike'
    (DataMining under a look-alike namespace), 'reg' (a registered domain)."""
    ds = tmp_path / "ds"
    (ds / "images").mkdir(parents=True)
    bodies = {"deny": jpeg_with_xmp(xmp_packet("DMI-PROHIBITED")), "ok": (D / "plain.jpg").read_bytes(),
              "bad": (D / "plain.jpg").read_bytes(), "reg": (D / "plain.jpg").read_bytes(),
              "lookalike": jpeg_with_xmp(xmp_packet("DMI-PROHIBITED", ns="http://ns.useplus.org/ldf/xmp/1.0"))}
    rows = []
    for key in ("deny", "ok", "gone", "bad", "lookalike", "reg"):
        if key in bodies:
            (ds / "images" / f"{key}.jpg").write_bytes(bodies[key])
        url = "not a url" if key == "bad" else f"https://{'blocked' if key == 'reg' else 'free'}.example/{key}.jpg"
        rows.append({"key": key, "path": f"images/{key}.jpg", "url": url, "caption": key, "width": 32, "height": 24,
                     "sha256": "0" * 64, "phash": "0123456789abcdef", "author": "A", "license": "cc-by", "source": "t"})
    write_manifest(pd.DataFrame(rows), ds)
    db = tmp_path / "r.db"
    with Registry(db) as reg:
        reg.add("domain", "blocked.example")
    return ds, db


def test_check_and_filter_list_unknown_rows_separately(tmp_path, mixed_dataset, capsys):
    ds, db = mixed_dataset
    out = tmp_path / "m.parquet"
    assert main(["optout", "check", str(ds), "--registry", str(db), "--out", str(out), "--scan-images"]) == 0
    assert "2 covered, 2 unknown" in capsys.readouterr().out
    assert set(pd.read_parquet(out)["key"]) == {"deny", "reg"}
    unk = pd.read_parquet(tmp_path / "m.unknown.parquet")
    assert set(unk["key"]) == {"gone", "bad"} and unk["reason"].str.startswith("unknown:").all()
    assert json.loads((tmp_path / "m.meta.json").read_text())["counts"]["rows_unknown"] == 2
    clean = tmp_path / "clean"
    assert main(["optout", "filter", str(ds), "--registry", str(db), "--out", str(clean), "--scan-images"]) == 0
    assert "kept 2, excluded 2, unknown 2" in capsys.readouterr().out
    kept, excl, unknown = (set(read_manifest(clean)["key"]), set(pd.read_parquet(clean / "excluded.parquet")["key"]),
                           set(pd.read_parquet(clean / "unknown.parquet")["key"]))
    assert kept == {"ok", "lookalike"} and excl == {"deny", "reg"} and unknown == {"gone", "bad"}
    assert kept | excl | unknown == {"deny", "ok", "gone", "bad", "lookalike", "reg"}  # nothing silently dropped
    meta = json.loads((clean / "meta.json").read_text())
    assert (meta["kept"], meta["excluded"], meta["unknown"]) == (2, 2, 2)
    # for search, XMP DMI-PROHIBITED still reserves; the registry's ai-training domain entry does not
    search = tmp_path / "search"
    assert main(["optout", "filter", str(ds), "--registry", str(db), "--out", str(search), "--scan-images", "--use", "search"]) == 0
    assert set(pd.read_parquet(search / "excluded.parquet")["key"]) == {"deny"}


def test_crawler_table_is_versioned_data_with_sources(capsys):
    rows = crawlers.crawlers()
    assert rows and all(r.purpose in crawlers.PURPOSES and r.source.startswith("https://") and r.date for r in rows)
    for name in ("ChatGPT-User", "OAI-SearchBot", "Claude-User", "Perplexity-User", "PerplexityBot", "Googlebot"):
        assert crawlers.lookup(name) is not None and not crawlers.is_training_crawler(name), name
    for name in ("GPTBot", "CCBot", "ClaudeBot", "Google-Extended", "img2dataset"):
        assert crawlers.is_training_crawler(name), name
    assert crawlers.lookup("GPTBot/1.1 (+https://openai.com/gptbot)").name == "GPTBot"
    assert main(["optout", "crawlers"]) == 0
    assert "crawler table v1" in capsys.readouterr().out


def test_robots_txt_blocking_only_a_live_answer_crawler_is_not_a_training_signal():
    from audit.optout.robots import robots_signals

    sigs = robots_signals("User-agent: ChatGPT-User\nDisallow: /\n", "/a.jpg")
    assert sigs == ()  # not our group, and ChatGPT-User is not a training crawler: nothing to report


def _module_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):  # every import, including function-local ones
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
    return names


def test_no_import_cycle_between_robots_and_signals():
    opt = ROOT / "audit" / "optout"
    robots_imports, signals_imports = _module_imports(opt / "robots.py"), _module_imports(opt / "signals.py")
    assert not any(m.endswith("signals") for m in robots_imports)
    assert not any(m.endswith("robots") for m in signals_imports)
    for first in ("robots", "signals"):  # either import order works in a fresh interpreter
        code = f"import audit.optout.{first}, audit.optout.site; print('ok')"
        r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                           env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
        assert r.stdout.strip() == "ok", r.stderr


def test_image_sizes_are_real(tmp_path):
    """The fixture images are decodable JPEGs (the XMP segment does not break them)."""
    p = tmp_path / "x.jpg"
    p.write_bytes(jpeg_with_xmp(xmp_packet("DMI-PROHIBITED")))
    with Image.open(p) as im:
        im.load()
        assert im.size == (32, 24)

"""A small but complete workspace for the app's role tests (AppTest and the browser), built from real parts:
real images with their real captions/authors (tests/data/images), a real index (random-init tiny CLIP), a real
SQLite opt-out registry and request DB, a real test CA, a real memorisation report, and the shipped generator.

The removal request works on its own copy of the dataset and index (as `audit demo` does), so erasing in one test
does not change what the other pages show.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
from PIL import Image

from audit import config
from audit.meta import make_meta, sha256_file, write_meta
from audit.records import write_manifest
from audit.workspace import Workspace, load_workspace, write_workspace

MODEL = "genaudit-tiny-clip@random:0"
DATA = Path(__file__).resolve().parent / "data" / "images"
FILES = ["oc_lemon.png", "oc_sailboat_illustration.png", "oc_saturn_dan_gerhards_01.png", "wp_LadyBird.jpg",
         "astronaut.jpg", "oc_home0.png"]
CAPTIONS = json.loads((DATA / "captions.json").read_text(encoding="utf-8"))
OPTED_OUT_ARTIST = CAPTIONS["oc_saturn_dan_gerhards_01.png"]["author"]
SUBJECT = "Eileen Collins"


def _dataset(ds: Path) -> Path:
    import imagehash

    (ds / "images").mkdir(parents=True)
    rows = []
    for f in FILES:
        dest = ds / "images" / f
        shutil.copyfile(DATA / f, dest)
        with Image.open(dest) as img:
            size, phash = img.size, str(imagehash.phash(img.convert("RGB")))
        meta = CAPTIONS[f]
        rows.append(dict(key=Path(f).stem, path=f"images/{f}", url=f"https://example.org/art/{f}",
                         caption=meta["caption"], width=size[0], height=size[1], sha256=sha256_file(dest),
                         phash=phash, author=meta["author"], license=meta["license"], source=meta["source"]))
    write_manifest(pd.DataFrame(rows), ds)
    write_meta(ds, make_meta("dataset", count=len(rows)))
    return ds


def build_workspace(root: Path, with_report: bool = True) -> Workspace:
    """Write every artefact the pages open, then workspace.toml naming them; returns the loaded workspace."""
    from audit.index import build_index
    from audit.optout.registry import Registry
    from audit.provenance.ca import init_ca
    from audit.removal import connect, create_request, transition

    root.mkdir(parents=True, exist_ok=True)
    build_index(_dataset(root / "dataset"), root / "index", model=MODEL)
    build_index(_dataset(root / "removal" / "dataset"), root / "removal" / "index", model=MODEL)
    with Registry(root / "optout.db") as reg:
        reg.add("artist", OPTED_OUT_ARTIST, source="test", scope="ai-training")
    conn = connect(root / "removal" / "requests.db")
    try:
        req = create_request(conn, SUBJECT, "eileen@example.org")
        transition(conn, req.id, "verified", reason="identity checked", actor="test")
        create_request(conn, "Someone Else", "someone@example.org")
    finally:
        conn.close()
    init_ca(root / "ca")
    if with_report:
        gen = root / "generated"
        gen.mkdir()
        shutil.copyfile(DATA / "oc_lemon.png", gen / "copy_of_lemon.png")  # a copy: flagged
        Image.open(DATA / "astronaut.jpg").convert("RGB").resize((32, 32)).save(gen / "small_astronaut.png")
        from audit.memorisation.run import scan_folder

        scan_folder(gen, root / "index", root / "memorisation", workers=1, baseline_sample=4)
    write_workspace(root, name="test-workspace", paths={
        "index": "index", "training_index": "index", "registry": "optout.db", "requests": "removal/requests.db",
        "removal_index": "removal/index", "ca": "ca", "store": "store", "report": "memorisation", "runs": "runs",
        "generator": str(config.GENERATOR_DIR.resolve()),
    })
    return load_workspace(root)

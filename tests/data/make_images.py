"""Rebuild tests/data/images, tests/data/bad and tests/data/dataset from real upstream files.

Run once by hand (needs apt-get for the Debian packages):  .venv/bin/python tests/data/make_images.py
Sources and licences are listed in tests/data/README.md.
"""

from __future__ import annotations

import io
import json
import shutil
import sys
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from audit.dataset import debian, reference, svg  # noqa: E402
from audit.dataset.dep5 import holders, match_stanza, parse_dep5  # noqa: E402
from audit.images import fit_within, load_image  # noqa: E402

SIDE = 128
DRAWINGS = [
    "animals/bugs/bug_nicu_buculei_01.svg", "animals/mammals/crazy_monkey_shandy_brow_01.svg",
    "food/fruit/lemon.svg", "food/beverages/orange_juice_box.svg", "plants/trees/cartoon_tree_01.svg",
    "plants/flowers/magnolia_white_patricia__01.svg", "transportation/boating/sailboat_illustration.svg",
    "transportation/vehicles/toy_paper_plane_01.svg", "people/stickmen/sm_009.svg",
    "buildings/homes/home0.svg", "buildings/church_building_01_01.svg", "science/astronomy/saturn_dan_gerhards_01.svg",
    "science/chemistry_flask_matthew__02.svg", "recreation/toys/rubik_s_cube_simple_petr_01.svg",
    "recreation/sand_castle_nathan_hawke_01.svg", "office/certificate_01.svg", "tools/paint_brush_costea_bogda_01.svg",
    "electronics/bulb/lightbulb_brightlit_benj_.svg", "geography/western-australia-black.svg",
]
WALLPAPERS = [
    ("mate-backgrounds", "usr/share/backgrounds/mate/nature/LadyBird.jpg"),
    ("mate-backgrounds", "usr/share/backgrounds/mate/nature/Storm.jpg"),
    ("lomiri-wallpapers-20.04", "usr/share/backgrounds/Fossa_by_Jasper_Roks.jpg"),
    ("lomiri-wallpapers-20.04", "usr/share/backgrounds/Kleiber_by_Lukas_Baubkus.jpg"),
]
SVG_FIXTURE = "computer/buttons/tasto_6_architetto_franc_01.svg"


def main() -> None:
    oc = debian.fetch(reference.OPENCLIPART_PKG)
    root = oc.root / reference.OPENCLIPART_ROOT
    images, bad, ds = HERE / "images", HERE / "bad", HERE / "dataset"
    for d in (images, bad, ds):
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
    captions: dict[str, dict] = {}

    def save(key: str, img: Image.Image, fmt: str, caption: str, **info) -> Path:
        path = images / f"{key}.{'png' if fmt == 'png' else 'jpg'}"
        small = fit_within(img.convert("RGB"), SIDE)
        small.save(path, "PNG", optimize=True) if fmt == "png" else small.save(path, "JPEG", quality=90)
        path.with_suffix(".txt").write_text(caption + "\n", encoding="utf-8")
        captions[path.name] = {"caption": caption, **info}
        return path

    for rel in DRAWINGS:
        meta = svg.parse_svg_meta(root / rel)
        parts = rel.split("/")
        title = svg.drawing_title(meta.title, Path(rel).stem, meta.creator)
        cap = svg.caption_for(title, parts[0].replace("_", " "), meta.keywords, folders=tuple(parts[:-1]))
        save("oc_" + Path(rel).stem, svg.render_svg(root / rel, 2 * SIDE), "png", cap, author=meta.creator,
             license="public-domain", source=oc.source(f"{reference.OPENCLIPART_ROOT}/{rel}"))
    for pkg_name, rel in WALLPAPERS:
        pkg = debian.fetch(pkg_name)
        stanzas = parse_dep5((pkg.root / "usr/share/doc" / pkg_name / "copyright").read_text(encoding="utf-8"))
        st = match_stanza(stanzas, rel)
        author = holders(st) if st else None
        title = reference.wallpaper_title(Path(rel).name)
        save("wp_" + Path(rel).stem, load_image(pkg.root / rel).image, "jpeg", f"{title}, wallpaper photo by {author}",
             author=author, license=st.license if st else None, source=pkg.source(rel))
    astro = reference.PEOPLE[0]
    save("astronaut", load_image(reference.person_file(astro)).image, "jpeg", astro.caption, author=astro.author,
         license="public-domain", source=f"pypi:scikit-image:{astro.module}/{astro.rel}")
    (images / "captions.json").write_text(json.dumps(captions, indent=2, sort_keys=True) + "\n", encoding="utf-8")

    # ---- bad inputs, each made from a real image above
    photo = Image.open(images / "wp_LadyBird.jpg").convert("RGB")
    shutil.copy(images / "oc_lemon.png", bad / "good.png")
    shutil.copy(images / "oc_lemon.png", bad / "good_copy.png")  # exact duplicate
    buf = io.BytesIO()
    photo.save(buf, "JPEG", quality=90)
    (bad / "truncated.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    raw = bytearray((images / "oc_bug_nicu_buculei_01.png").read_bytes())
    start = raw.index(b"IDAT") + 8
    raw[start:start + 600] = bytes(600)  # signature and header intact, compressed pixel data zeroed
    (bad / "corrupt.png").write_bytes(bytes(raw))
    photo.convert("CMYK").save(bad / "cmyk.jpg", "JPEG", quality=90)
    gray16 = (np.asarray(photo.convert("L"), dtype=np.uint16) * 257).astype(np.uint16)
    Image.fromarray(gray16).save(bad / "gray16.png")
    rgba = svg.render_svg(root / DRAWINGS[0], SIDE).convert("RGBA")
    alpha = Image.fromarray(np.where(np.asarray(rgba.convert("L")) > 250, 0, 255).astype(np.uint8))
    rgba.putalpha(alpha)
    rgba.save(bad / "rgba.png")
    frames = [fit_within(Image.open(images / f).convert("RGB"), 64).resize((64, 64)) for f in
              ("oc_lemon.png", "oc_cartoon_tree_01.png", "oc_sm_009.png")]
    frames[0].save(bad / "animated.gif", save_all=True, append_images=frames[1:], duration=200, loop=0)
    (bad / "notes.jpg").write_text("this is a text file, not a JPEG\n", encoding="utf-8")
    shutil.copy(root / SVG_FIXTURE, bad / "vector.svg")  # not a raster format: recorded as unsupported

    # ---- parser fixtures
    shutil.copy(root / SVG_FIXTURE, ds / "tasto_6.svg")
    shutil.copy(root / "recreation/holiday/easter/easter_jorkon_01.svg", ds / "easter_mm_no_viewbox.svg")
    mate = (debian.fetch("mate-backgrounds").root / "usr/share/doc/mate-backgrounds/copyright").read_text(encoding="utf-8")
    lomiri = (debian.fetch("lomiri-wallpapers-20.04").root / "usr/share/doc/lomiri-wallpapers-20.04/copyright").read_text(encoding="utf-8")
    head = mate.split("Files: .build.yml")[0]
    tail = lomiri[lomiri.index("Files: 20.04/Fossa"):lomiri.index("License: Expat")]
    (ds / "copyright-excerpt").write_text(head + tail, encoding="utf-8")
    total = sum(p.stat().st_size for d in (images, bad, ds) for p in d.iterdir())
    print(f"{len(captions)} images; fixtures total {total / 1e6:.2f} MB")


if __name__ == "__main__":
    main()

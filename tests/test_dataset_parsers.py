"""Parsers on real upstream files: openclipart SVG RDF metadata, SVG rendering, DEP-5 copyright files."""

from __future__ import annotations

from pathlib import Path

import pytest

from audit.dataset import dep5, svg
from audit.dataset.reference import select_drawings, wallpaper_title
from audit.errors import ImageError

DATA = Path(__file__).parent / "data" / "dataset"


def test_svg_rdf_metadata_of_real_openclipart_file() -> None:
    meta = svg.parse_svg_meta(DATA / "tasto_6.svg")
    assert meta.title == "Tasto 6"
    assert meta.creator == "Architetto Francesco Rollandin"
    assert meta.keywords == ()  # the only keyword is 'unsorted', which says nothing
    assert meta.license_url == "http://web.resource.org/cc/PublicDomain"


def test_svg_metadata_missing_or_broken_gives_empty_fields() -> None:
    assert svg.parse_svg_meta(b"<svg xmlns='http://www.w3.org/2000/svg'/>") == svg.SvgMeta(None, (), None, None)
    broken = b"<svg><metadata><rdf:RDF><cc:Work><dc:title>x</dc:title></rdf:RDF></metadata></svg>"
    assert svg.parse_svg_meta(broken).title is None


def test_keywords_cleaned_and_caption_drops_redundant_words() -> None:
    meta = svg.parse_svg_meta(DATA / "easter_mm_no_viewbox.svg")
    assert meta.title == "easter"
    assert "easter" in meta.keywords
    cap = svg.caption_for("easter", "recreation", ("easter", "rabbit", "holiday"), folders=("recreation", "holiday"))
    assert cap == "easter, recreation clip art: rabbit"


@pytest.mark.parametrize(
    "title,stem,creator,expected",
    [
        ("Part of the Flat Icon Collection (Wed Aug 25 23:29:46 2004)", "black_sum", "Danny Allen", "black sum"),
        ("Etiquette Printer", "etiquette_printer_01", "Andrew Fitzsimon", "etiquette printer"),
        (None, "soft_blue_couch_jonadab_01", "jonadab", "soft blue couch"),
        ("GreenMeadow", "x", None, "green meadow"),
    ],
)
def test_drawing_title(title, stem, creator, expected) -> None:
    assert svg.drawing_title(title, stem, creator) == expected


def test_render_svg_with_mm_page_and_no_viewbox() -> None:
    img = svg.render_svg(DATA / "easter_mm_no_viewbox.svg", 128)
    assert img.mode == "RGB" and max(img.size) <= 140
    # cropped to content: the drawing is not lost in an A4 page of white
    assert img.getpixel((img.width // 2, img.height // 2)) != (255, 255, 255) or min(img.size) > 20
    assert min(img.getextrema()[0]) < 200  # something dark was drawn


def test_render_svg_refuses_non_svg(tmp_path: Path) -> None:
    p = tmp_path / "x.svg"
    p.write_text("not an svg at all")
    with pytest.raises(ImageError, match="x.svg"):
        svg.render_svg(p, 64)


def test_dep5_parsing_of_real_copyright_excerpt() -> None:
    stanzas = dep5.parse_dep5((DATA / "copyright-excerpt").read_text(encoding="utf-8"))
    silk = dep5.match_stanza(stanzas, "usr/share/backgrounds/mate/abstract/Silk.png")
    assert silk is not None and silk.license == "GPL-2+"
    assert dep5.holders(silk) == "Patryk Zawadzki"
    dune = dep5.match_stanza(stanzas, "usr/share/backgrounds/mate/nature/Dune.jpg")
    assert dep5.holders(dune) == "Marco Cogoni; Hylke Bons"
    # glob pattern desktop/Ubuntu-Mate-*-no-logo.png, different licence
    um = dep5.match_stanza(stanzas, "usr/share/backgrounds/mate/desktop/Ubuntu-Mate-Cold-no-logo.png")
    assert um.license == "CC-BY-SA-4.0" and dep5.holders(um) == "Goce Mitevski"
    # lomiri installs 20.04/Fossa_by_Jasper_Roks.jpg as usr/share/backgrounds/Fossa_by_Jasper_Roks.jpg
    fossa = dep5.match_stanza(stanzas, "usr/share/backgrounds/Fossa_by_Jasper_Roks.jpg")
    assert fossa.license == "CC-BY-SA-3.0" and dep5.holders(fossa) == "Jasper Roks"
    assert dep5.match_stanza(stanzas, "usr/share/backgrounds/unknown.jpg") is None


def test_holder_cleaning_and_filename_authors() -> None:
    assert dep5.clean_holder('2008, "blackcombwhistler07" <x@y.com>') == '"blackcombwhistler07"'
    assert dep5.clean_holder("Peter Nerlich, 2018") == "Peter Nerlich"
    assert dep5.clean_holder("2018. Sander Klootwijk") == "Sander Klootwijk"
    assert dep5.holders(dep5.Dep5Stanza(("*",), ("*No copyright*",), "GPL-2+")) is None
    assert dep5.author_from_filename("Kleiber_by_Lukas_Baubkus.jpg") == "Lukas Baubkus"
    assert dep5.author_from_filename("Painting-Colors_by__herobrine7gamer.jpg") == "herobrine7gamer"
    assert dep5.author_from_filename("Storm.jpg") is None
    assert wallpaper_title("Elephants_3840x2160.jpg") == "elephants"
    assert wallpaper_title("Ubuntu-Mate-Cold-no-logo.png") == "ubuntu mate cold"


def test_select_drawings_is_stratified_and_seeded() -> None:
    paths = [f"animals/a{i}.svg" for i in range(50)] + [f"food/f{i}.svg" for i in range(5)] + ["tools/t.svg"]
    chosen = select_drawings(paths, 12, seed=0)
    cats = [p.split("/")[0] for p in chosen]
    assert len(chosen) == 12 and cats.count("food") == 5 and cats.count("tools") == 1
    assert chosen == select_drawings(paths, 12, seed=0)
    assert chosen != select_drawings(paths, 12, seed=1)
    assert select_drawings(paths, None, 0) == paths


def test_blank_overlay_wallpapers_are_detected():
    """MATE ships white textures with alpha that are blank once composited on white: they must be skipped."""
    import io

    import numpy as np
    from PIL import Image

    from audit.dataset.reference import is_blank
    from audit.images import load_image

    arr = np.zeros((40, 60, 4), np.uint8)
    arr[..., :3] = 255
    arr[..., 3] = np.linspace(0, 150, 60, dtype=np.uint8)[None, :]  # white with a varying alpha
    buf = io.BytesIO()
    Image.fromarray(arr, "RGBA").save(buf, "PNG")
    assert is_blank(load_image(buf.getvalue()).image)
    lemon = Path(__file__).parent / "data" / "images" / "oc_lemon.png"
    assert not is_blank(load_image(lemon).image)

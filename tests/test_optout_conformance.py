"""Conformance: one test per rule of issue 17, each citing the specification section it implements, each with an
opted-out and a not-opted-out reading; where headers are involved, served by a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import pytest
from optout_server import PLUS_NS, image, jpeg_with_xmp, serve, text, xmp_packet  # noqa: F401 - serve is a fixture

from audit.optout import robots
from audit.optout import signals as S
from audit.optout.embedded import parse_xmp
from audit.optout.site import check_url, decide, offline_signals

AGENT = "img2dataset"


def answers(url: str, agent: str = AGENT) -> dict[str, str]:
    """{use: status} from one live check per use."""
    return {use: check_url(url, timeout=5, agent=agent, use=use).status for use in ("train", "ai-input", "search")}


# ---------------------------------------------------------------- scope: each vocabulary governs its own use

def test_content_signal_governs_only_its_own_use(serve):
    """Cloudflare Content Signals Policy: search / ai-input / ai-train are separate signals; only ai-train speaks to
    training ("If a content-signal = no, you may not collect content for the corresponding use")."""
    base = serve({"/a.jpg": image([("Content-Signal", "search=no, ai-input=no")]),
                  "/b.jpg": image([("Content-Signal", "search=yes, ai-train=no")]),
                  "/robots.txt": text("User-Agent: *\nContent-Signal: ai-input=no\nAllow: /\n")})
    assert answers(base + "/a.jpg") == {"train": "not opted out", "ai-input": "opted out", "search": "opted out"}
    assert answers(base + "/b.jpg") == {"train": "opted out", "ai-input": "opted out", "search": "not opted out"}


def test_robots_meta_noai_is_training_and_noindex_is_search(serve):
    """The robots meta `noai`/`noimageai` convention (DeviantArt 2022) reserves AI training; `noindex`/`noimageindex`
    are search directives (Google robots meta specification), not training reservations."""
    base = serve({"/ai.jpg": image([("X-Robots-Tag", "noimageai")]), "/ix.jpg": image([("X-Robots-Tag", "noindex, noimageindex")])})
    assert answers(base + "/ai.jpg") == {"train": "opted out", "ai-input": "not opted out", "search": "not opted out"}
    assert answers(base + "/ix.jpg") == {"train": "not opted out", "ai-input": "not opted out", "search": "opted out"}


# ---------------------------------------------------------------- specific over general

@pytest.mark.parametrize("value,train,ai_input", [
    ("bots=n, train-ai=y", "not opted out", "opted out"),   # train-ai is stated: it decides; ai-use is not: bots=n applies
    ("train-ai=y, train-genai=n", "opted out", "not opted out"),  # generative training is the more specific category
    ("bots=y, train-ai=n", "opted out", "not opted out"),
    ("train-ai=N, Search=n", "not opted out", "not opted out"),  # not y/n tokens, uppercase key: no preference (§6.5)
    ('train-ai="n"', "not opted out", "not opted out"),         # a String, not a Token: no preference
])
def test_content_usage_most_specific_category_decides(serve, value, train, ai_input):
    """draft-ietf-aipref-vocab §4 (categories nest: bots ⊃ train-ai ⊃ train-genai; bots ⊃ ai-use, search) and §5
    (a stated preference for a category decides; otherwise its parent's); §6 (RFC 9651 Dictionary of y/n Tokens)."""
    base = serve({"/a.jpg": image([("Content-Usage", value)])})
    got = answers(base + "/a.jpg")
    assert (got["train"], got["ai-input"]) == (train, ai_input)


def test_robots_txt_own_group_replaces_star_and_other_ai_groups_do_not_bind(serve):
    """RFC 9309 §2.2.1: the crawler obeys the group(s) naming its product token (case-insensitive, merged), else '*';
    a group for another AI crawler (GPTBot) does not bind img2dataset."""
    robots_txt = ("User-agent: *\nDisallow: /\n\nUser-agent: IMG2DATASET\nAllow: /public/\n\nUser-agent: img2dataset\n"
                  "Disallow: /private/\n\nUser-agent: GPTBot\nDisallow: /\n")
    base = serve({"/robots.txt": text(robots_txt), "/public/a.jpg": image(), "/private/a.jpg": image()})
    assert check_url(base + "/public/a.jpg", timeout=5).status == "not opted out"   # own group, not '*'
    v = check_url(base + "/private/a.jpg", timeout=5)
    assert v.status == "opted out" and "own group" in v.reason                        # the two img2dataset groups merge
    assert check_url(base + "/public/a.jpg", timeout=5, agent="OtherBot").status == "opted out"  # no group: '*'
    assert check_url(base + "/public/a.jpg", timeout=5, agent="GPTBot").status == "opted out"
    info = [s for s in check_url(base + "/public/a.jpg", timeout=5).signals if s.agent == "gptbot"]
    assert info and all(s.state == "none" for s in info)  # reported, does not bind us


@pytest.mark.parametrize("rules,path,allowed", [
    ("Allow: /a\nDisallow: /a", "/a/x.jpg", True),        # §2.2.2: equivalent rules, Allow wins
    ("Disallow: /img/\nAllow: /img/ok/", "/img/ok/1.jpg", True),   # longest match
    ("Disallow: /img/\nAllow: /img/ok/", "/img/no/1.jpg", False),
    ("Disallow: /*.jpg$", "/x/a.jpg", False),            # §2.2.3: '*' any run, '$' end
    ("Disallow: /*.jpg$", "/x/a.jpg.html", True),
    ("Disallow: /%7Ejane/", "/~jane/a.jpg", False),       # unreserved octets compared decoded
    ("Disallow:", "/a.jpg", True),                        # an empty Disallow allows everything
])
def test_robots_txt_longest_match_and_wildcards(rules, path, allowed):
    """RFC 9309 §2.2.2 (the most specific = longest matching rule wins; Allow wins a tie) and §2.2.3 (special characters)."""
    sigs = robots.robots_signals(f"User-agent: img2dataset\n{rules}\n", path)
    assert decide(sigs).opted_out is (not allowed)


def test_content_usage_rules_in_robots_txt_by_path(serve):
    """draft-ietf-aipref-attach §3: Content-Usage is a rule of a robots.txt group with a path; the longest matching
    path decides, and usage rules apply only to paths the group lets the crawler fetch."""
    robots_txt = ("User-Agent: *\nAllow: /\nContent-Usage: / train-ai=n\nContent-Usage: /ai-ok/ train-ai=y\n\n"
                  "User-Agent: ExampleBot\nAllow: /\nContent-Usage: / train-ai=y\n")
    base = serve({"/robots.txt": text(robots_txt), "/test.jpg": image(), "/ai-ok/test.jpg": image()})
    assert check_url(base + "/test.jpg", timeout=5).status == "opted out"
    assert check_url(base + "/ai-ok/test.jpg", timeout=5).status == "not opted out"
    assert check_url(base + "/test.jpg", timeout=5, agent="ExampleBot").status == "not opted out"  # its own group


# ---------------------------------------------------------------- paths: TDMRep location is a prefix

@pytest.mark.parametrize("rules,path,status", [
    ('[{"location": "/", "tdm-reservation": 1}]', "/images/a.jpg", "opted out"),          # "/" covers the whole site
    ('[{"location": "/private/", "tdm-reservation": 1}]', "/public/a.jpg", "not opted out"),
    ('[{"location": "/images/public/*", "tdm-reservation": 0}, {"location": "/images/", "tdm-reservation": 1}]',
     "/images/public/a.jpg", "not opted out"),                                          # the first matching rule decides
    ('[{"location": "/*.jpg$", "tdm-reservation": 1}]', "/x/a.jpg", "opted out"),
    ('[{"location": "/*.jpg$", "tdm-reservation": 1}]', "/x/a.jpg.html", "not opted out"),
])
def test_tdmrep_json_location_is_a_path_prefix(serve, rules, path, status):
    """W3C TDMRep final report §4.1: a location matches "if the end of the path from the rule is reached before a
    difference" (a prefix), with robots.txt '*' and '$'; the first matching rule is used."""
    base = serve({"/.well-known/tdmrep.json": text(rules, "application/json"), path: image()})
    assert check_url(base + path, timeout=5).status == status


def test_tdmrep_precedence_meta_over_header(serve):
    """W3C TDMRep final report §4 precedence: HTML meta > HTTP header > tdmrep.json."""
    page = '<html><head><meta name="tdm-reservation" content="{}"></head></html>'
    base = serve({"/yes.html": (200, [("Content-Type", "text/html"), ("tdm-reservation", "0")], page.format(1).encode()),
                  "/no.html": (200, [("Content-Type", "text/html"), ("tdm-reservation", "1")], page.format(0).encode())})
    assert check_url(base + "/yes.html", timeout=5).opted_out
    v = check_url(base + "/no.html", timeout=5)
    assert v.status == "not opted out" and "TDMRep precedence" in v.reason


# ---------------------------------------------------------------- unreadable is not "allowed"

def test_response_with_150_header_lines_is_unknown(serve):
    """RFC 9110 §5.3: every field line counts. http.client refuses more than 100 header lines; what cannot be read
    cannot be "no reservation": the answer is unknown, unless a readable signal already reserves the use."""
    filler = [(f"X-Filler-{i}", "x") for i in range(149)]
    base = serve({"/many.jpg": image([*filler, ("X-Robots-Tag", "noai")]), "/few.jpg": image(filler[:90]),
                  "/robots.txt": text("User-agent: img2dataset\nDisallow: /blocked/\n"), "/blocked/many.jpg": image(filler)})
    v = check_url(base + "/many.jpg", timeout=5)
    assert v.status == "unknown" and "could not read" in v.reason and "more than 100 headers" in v.reason
    assert check_url(base + "/few.jpg", timeout=5).status == "not opted out"
    assert check_url(base + "/blocked/many.jpg", timeout=5).status == "opted out"  # a known reservation still decides


def test_long_x_robots_tag_values_and_every_line(serve):
    """X-Robots-Tag: every header line is read, and values of 64 KB are read in full; a 70 KB value exceeds the
    HTTP client's 65536-byte line cap, so that response cannot be read: unknown, never "no reservation"."""
    base = serve({"/64k.jpg": image([("X-Robots-Tag", "x" * 64_000 + ", noai")]),
                  "/70k.jpg": image([("X-Robots-Tag", "x" * 70_000 + ", noai")]),
                  "/lines.jpg": image([("X-Robots-Tag", "googlebot: noindex"), ("X-Robots-Tag", "max-snippet: 20"),
                                       ("X-Robots-Tag", "NoAI")]),
                  "/plain.jpg": image([("X-Robots-Tag", "x" * 64_000)])})
    assert check_url(base + "/64k.jpg", timeout=5).opted_out
    assert check_url(base + "/plain.jpg", timeout=5).status == "not opted out"
    v = check_url(base + "/70k.jpg", timeout=5)
    assert v.status == "unknown" and "could not read" in v.reason
    assert check_url(base + "/lines.jpg", timeout=5).opted_out
    # a stored response whose value is longer than our own cap says it was cut
    cut = S.parse_headers([("X-Robots-Tag", "x" * (S.MAX_HEADER_VALUE + 10) + ", noai")])
    assert decide(cut).status == "unknown" and any("cut" in s.directive for s in cut)


def test_unreachable_robots_txt_is_unknown_and_missing_is_no_rules(serve):
    """RFC 9309 §2.3.1.3 (4xx: unavailable, no rules apply) and §2.3.1.4 (5xx: unreachable, the crawler may not
    assume it is allowed)."""
    down = serve({"/a.jpg": image(), "/robots.txt": text("busy", status=503)})
    v = check_url(down + "/a.jpg", timeout=5)
    assert v.status == "unknown" and "robots.txt" in v.reason
    gone = serve({"/a.jpg": image(), "/robots.txt": text("", status=404)})
    assert check_url(gone + "/a.jpg", timeout=5).status == "not opted out"


# ---------------------------------------------------------------- markup: a real HTML parser

@pytest.mark.parametrize("html,status", [
    ('<head><meta name="robots" content="noai"></head>', "opted out"),
    ('<head><!-- <meta name="robots" content="noai"> --></head>', "not opted out"),
    ('<head><script>document.write(\'<meta name="robots" content="noai">\')</script></head>', "not opted out"),
    ('<head><template><meta name="robots" content="noai"></template></head>', "not opted out"),
    ('<head><title><meta name="robots" content="noai"></title></head>', "not opted out"),
    ('<head><meta name="img2dataset" content="noai"></head>', "opted out"),
    ('<head><meta name="GPTBot" content="noai"></head>', "not opted out"),
])
def test_meta_tags_only_count_where_html_makes_an_element(serve, html, status):
    """HTML Living Standard §13.2 tokenization: comments, <script> raw text and <template> inert content produce no
    meta element; robots meta `noai` convention; a meta named for a crawler binds that crawler only."""
    base = serve({"/p.html": text(f"<!doctype html><html>{html}<body></body></html>", "text/html")})
    assert check_url(base + "/p.html", timeout=5).status == status


# ---------------------------------------------------------------- namespaces: XMP parsed as XML

@pytest.mark.parametrize("packet,train,search", [
    (xmp_packet("DMI-PROHIBITED-AIMLTRAINING"), "opted out", "not opted out"),
    (xmp_packet("DMI-PROHIBITED-AIMLTRAINING", ns="http://ns.useplus.org/ldf/xmp/1.0"), "not opted out", "not opted out"),
    (xmp_packet("DMI-PROHIBITED", ns="http://example.com/plus/"), "not opted out", "not opted out"),  # look-alike prefix
    (xmp_packet("DMI-PROHIBITED-EXCEPTSEARCHENGINEINDEXING"), "opted out", "not opted out"),
    (xmp_packet("DMI-PROHIBITED"), "opted out", "opted out"),
    (xmp_packet("DMI-PROHIBITED-GENAIMLTRAINING"), "opted out", "not opted out"),
    (xmp_packet("DMI-ALLOWED"), "not opted out", "not opted out"),
    (xmp_packet("DMI-UNSPECIFIED"), "not opted out", "not opted out"),
    (xmp_packet("dmi-prohibited"), "unknown", "unknown"),                                 # not a vocabulary value
    (xmp_packet("DMI-PROHIBITED&a;", extra='<!DOCTYPE x [<!ENTITY a "-AIMLTRAINING">]>'), "unknown", "unknown"),  # no expansion
])
def test_xmp_plus_data_mining_by_namespace_and_vocabulary(serve, packet, train, search):
    """PLUS LDF plus:DataMining (namespace http://ns.useplus.org/ldf/xmp/1.0/), values from the PLUS Data Mining
    vocabulary (IPTC Photo Metadata 2023.1) matched exactly; XMP read as namespaced XML with no entity expansion."""
    base = serve({"/x.jpg": image(body=jpeg_with_xmp(packet))})
    got = answers(base + "/x.jpg")
    assert (got["train"], got["search"]) == (train, search)


def test_xmp_attribute_form_and_ai_input_mapping():
    """PLUS LDF: the property may be an attribute of rdf:Description; EXCEPTSEARCHENGINEINDEXING reserves AI input too."""
    attr = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            b'<rdf:Description xmlns:p="' + PLUS_NS.encode() + b'" p:DataMining="http://ns.useplus.org/ldf/vocab/'
            b'DMI-PROHIBITED-EXCEPTSEARCHENGINEINDEXING"/></rdf:RDF></x:xmpmeta>')
    sigs = parse_xmp(attr)
    assert decide(sigs, use="ai-input").opted_out and decide(sigs, use="search").status == "not opted out"


def test_offline_stored_files_follow_the_same_rules(tmp_path):
    """The same rules apply to stored responses (audit optout signals --headers/--html/--robots)."""
    (tmp_path / "h.txt").write_text("HTTP/1.1 200 OK\nContent-Signal: ai-input=no\nX-Robots-Tag: gptbot: noai\n")
    (tmp_path / "r.txt").write_text("User-agent: GPTBot\nDisallow: /\n")
    sigs = offline_signals("https://x.example/a.jpg", headers=tmp_path / "h.txt", robots_txt=tmp_path / "r.txt")
    assert decide(sigs).status == "not opted out"
    assert decide(sigs, use="ai-input").opted_out
    gpt = offline_signals("https://x.example/a.jpg", headers=tmp_path / "h.txt", robots_txt=tmp_path / "r.txt", agent="GPTBot")
    assert decide(gpt, agent="GPTBot").opted_out

"""`<meta name=… content=…>` tags of an HTML page, read with a real HTML parser (stdlib html.parser).

A meta tag counts only where a browser would make it an element: not inside a comment, not inside the raw
text of <script>/<style> (html.parser handles those), and not inside <template> (inert content, HTML
§4.12.3) or the RCDATA of <title>/<textarea> — those two contexts are tracked here. A tag left unclosed at
the end of the document is dropped, as browsers do (HTML tokenizer "eof-in-tag"); neutralising such tags
before parsing also keeps html.parser linear on hostile input like thousands of unclosed '<div '.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

MAX_META_TAGS = 2000
#: Elements whose content is not markup that produces meta elements in the document.
INERT = {"template", "title", "textarea", "xmp", "iframe", "noembed", "noframes"}

_TAG_OPEN = re.compile(r"<(?=[A-Za-z/!?])")


def _drop_unclosed_tags(html: str) -> str:
    """Escape every '<' whose tag never closes (no '>' before the next tag-open with no '>' at all after it)."""
    last_gt = html.rfind(">")
    if last_gt < 0:
        return html.replace("<", "&lt;")
    head, tail = html[: last_gt + 1], html[last_gt + 1:]
    return head + _TAG_OPEN.sub("&lt;", tail)


class _MetaParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, str]] = []
        self.inert: list[str] = []
        self.full = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in INERT:
            self.inert.append(tag)
            if tag in ("title", "textarea", "xmp", "iframe", "noembed", "noframes"):
                self.set_cdata_mode(tag)  # raw/RCDATA text in browsers: no tags inside
            return
        if tag != "meta" or self.inert or self.full:
            return
        a = {k.lower(): (v or "") for k, v in attrs}
        if "name" in a and "content" in a:
            self.found.append((a["name"].strip().lower(), a["content"]))
            self.full = len(self.found) >= MAX_META_TAGS

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in INERT:  # <template/> is not a self-closing element in HTML; ignore the slash there too
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in INERT and tag in self.inert:
            while self.inert and self.inert.pop() != tag:
                pass


def meta_tags(html: str) -> list[tuple[str, str]]:
    """(lower-cased name, content) of each meta element a browser would create, in document order."""
    p = _MetaParser()
    p.feed(_drop_unclosed_tags(html))
    p.close()
    return p.found

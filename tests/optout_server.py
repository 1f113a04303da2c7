"""A real HTTP server on 127.0.0.1 (http.server in a thread, port 0) serving per-test routes, for opt-out tests."""

from __future__ import annotations

import http.server
import threading
from pathlib import Path

import pytest

D = Path(__file__).parent / "data" / "optout"
PLUS_NS = "http://ns.useplus.org/ldf/xmp/1.0/"
PLUS_VOCAB = "http://ns.useplus.org/ldf/vocab/"
RDF_NS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"

Route = tuple[int, list[tuple[str, str]], bytes]


class _Handler(http.server.BaseHTTPRequestHandler):
    routes: dict[str, Route] = {}

    def log_message(self, *a):  # keep test output clean
        pass

    def handle(self):  # the client hangs up on responses it refuses: not an error worth printing
        try:
            super().handle()
        except ConnectionError:
            pass

    def do_GET(self):  # noqa: N802
        status, headers, body = self.routes.get(self.path, (404, [], b""))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture()
def serve():
    """serve({path: (status, [(header, value)], body)}) -> 'http://127.0.0.1:PORT'."""
    servers = []

    def start(routes: dict[str, Route]) -> str:
        handler = type("H", (_Handler,), {"routes": routes})
        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        servers.append(httpd)
        return f"http://127.0.0.1:{httpd.server_address[1]}"

    yield start
    for httpd in servers:
        httpd.shutdown()
        httpd.server_close()


def xmp_packet(value: str, ns: str = PLUS_NS, extra: str = "") -> bytes:
    """An XMP packet stating plus:DataMining = value (a vocabulary name or a full URI) under namespace `ns`."""
    uri = value if "://" in value else PLUS_VOCAB + value
    return (f'{extra}<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="{RDF_NS}"><rdf:Description rdf:about="" '
            f'xmlns:plus="{ns}"><plus:DataMining rdf:resource="{uri}"/></rdf:Description></rdf:RDF></x:xmpmeta>').encode()


def jpeg_with_xmp(packet: bytes) -> bytes:
    """A real JPEG (tests/data/optout/plain.jpg) with `packet` in an APP1 XMP segment after SOI."""
    base = (D / "plain.jpg").read_bytes()
    payload = b"http://ns.adobe.com/xap/1.0/\x00" + packet
    return base[:2] + b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload + base[2:]


def image(headers: list[tuple[str, str]] | None = None, body: bytes | None = None) -> Route:
    return 200, [("Content-Type", "image/jpeg"), *(headers or [])], body if body is not None else (D / "plain.jpg").read_bytes()


def text(body: str, ctype: str = "text/plain", status: int = 200) -> Route:
    return status, [("Content-Type", ctype)], body.encode()

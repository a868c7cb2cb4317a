"""A real HTTP server (ThreadingHTTPServer, 127.0.0.1, ephemeral port) that misbehaves on purpose: ill-formed
and mis-encoded feeds, XML and gzip bombs, huge and trickling bodies, redirect loops, error statuses with
Retry-After, garbage instead of HTTP, and a well-behaved outlet (feed + pages) to prove the others don't stop it.

Test support only. `HostileServer.routes` maps a path to a handler; tests may add or replace routes, and may
`hold(path)` a route so that its requests block until `release(path)` (used by the crash-safety test).
"""

from __future__ import annotations

import re
import socket
import threading
import time
import zlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

HOSTILE_DATA = Path(__file__).resolve().parent / "data" / "hostile"
ILLFORMED = HOSTILE_DATA / "feedparser-illformed"

Handler = Callable[[BaseHTTPRequestHandler], None]

WORDS = ("Officials said the aircraft crossed the border before dawn and was tracked by radar for several "
         "minutes while fighter jets were scrambled from a nearby base to escort it away from the area. ")


def rss(items: list[dict[str, str]], *, decl: str = '<?xml version="1.0" encoding="utf-8"?>', extra: str = "") -> bytes:
    """A small RSS 2.0 document; item values are inserted verbatim (callers escape what they mean to)."""
    body = "".join(
        "<item>" + "".join(f"<{k}>{v}</{k}>" for k, v in item.items()) + "</item>" for item in items
    )
    return f"{decl}{extra}<rss version=\"2.0\"><channel><title>t</title><link>http://x/</link>{body}</channel></rss>".encode()


def article_html(title: str) -> bytes:
    return (f"<html><head><title>{title}</title></head><body><article><h1>{title}</h1>"
            + "".join(f"<p>{WORDS}</p>" for _ in range(4)) + "</article></body></html>").encode()


def _date(days: int) -> str:
    return format_datetime(datetime(2025, 9, 10, 8, tzinfo=UTC) + timedelta(days=days))


class HostileServer:
    """`with HostileServer() as s:` serves on 127.0.0.1; `s.url("/path")`, `s.hits["/path"]`, `s.connections`
    (TCP connections accepted)."""

    def __init__(self) -> None:
        self.routes: dict[str, Handler] = {}
        self.hits: dict[str, int] = {}
        self.connections = 0
        self.held: dict[str, threading.Event] = {}
        self.arrived: dict[str, threading.Event] = {}
        self._lock = threading.Lock()
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
                pass

            def setup(self) -> None:  # once per accepted connection
                with server._lock:
                    server.connections += 1
                super().setup()

            def do_GET(self) -> None:  # noqa: N802
                path = urlsplit(self.path).path
                with server._lock:
                    server.hits[path] = server.hits.get(path, 0) + 1
                    arrived = server.arrived.get(path)
                    gate = server.held.get(path)
                if arrived is not None:
                    arrived.set()
                if gate is not None:
                    gate.wait(120)
                route = server.routes.get(path)
                try:
                    if route is None:
                        send(self, 404, b"not found", "text/plain")
                    else:
                        route(self)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        install_default_routes(self)

    def url(self, path: str) -> str:
        return self.base_url + path

    def hold(self, path: str) -> threading.Event:
        """Requests to `path` block until release(); returns an event set when the first one arrives."""
        with self._lock:
            self.held[path] = threading.Event()
            self.arrived[path] = threading.Event()
            return self.arrived[path]

    def release(self, path: str) -> None:
        with self._lock:
            gate = self.held.pop(path, None)
        if gate is not None:
            gate.set()

    def __enter__(self) -> HostileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for path in list(self.held):
            self.release(path)
        self.httpd.shutdown()
        self.httpd.server_close()


class PublicHost:
    """The network of a fetch client in tests (`web.make_client(..., connector=PublicHost(server))`): a connection
    to one of the `public` addresses (there is no internet here) is opened to the local `server` instead. With
    `as_public` the connection reports the public address as its peer, as a real public host would; without it
    the peer is the local server, as when a proxy or a rebinding resolver delivers a public URL to loopback."""

    def __init__(self, server: HostileServer, public: tuple[str, ...] = ("93.184.216.34",),
                 as_public: bool = True) -> None:
        self.server, self.public, self.as_public = server, public, as_public
        self.attempted: list[str] = []

    def __call__(self, host: str, port: int, timeout: float | None) -> tuple[socket.socket, str]:
        self.attempted.append(host)
        if host not in self.public:
            raise ConnectionRefusedError(f"test network: {host} is not reachable")
        sock = socket.create_connection(("127.0.0.1", self.server.port), timeout)
        return sock, host if self.as_public else str(sock.getpeername()[0])


def send(h: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str = "application/rss+xml",
         headers: dict[str, str] | None = None) -> None:
    # links to example.org in fixtures point back here (under /x/, answered 404), so a test never leaves 127.0.0.1
    body = body.replace(b"http://example.org/", f"http://127.0.0.1:{h.server.server_address[1]}/x/".encode())
    h.send_response(status)
    h.send_header("Content-Type", content_type)
    h.send_header("Content-Length", str(len(body)))
    for k, v in (headers or {}).items():
        h.send_header(k, v)
    h.end_headers()
    h.wfile.write(body)


def static(body: bytes, status: int = 200, content_type: str = "application/rss+xml",
           headers: dict[str, str] | None = None) -> Handler:
    return lambda h: send(h, status, body, content_type, headers)


def redirect(location: str | Callable[[], str], status: int = 302) -> Handler:
    def handler(h: BaseHTTPRequestHandler) -> None:
        target = location() if callable(location) else location
        send(h, status, b"", "text/plain", {"Location": target})
    return handler


def _huge(h: BaseHTTPRequestHandler, total: int = 50 * 1024 * 1024, declared: bool = False) -> None:
    h.send_response(200)
    h.send_header("Content-Type", "application/rss+xml")
    if declared:
        h.send_header("Content-Length", str(total))
    else:
        h.send_header("Transfer-Encoding", "chunked")
    h.end_headers()
    block = b"<!-- " + b"x" * 65_000 + b" -->"
    sent = 0
    while sent < total:
        if declared:
            h.wfile.write(block)
        else:
            h.wfile.write(f"{len(block):x}\r\n".encode() + block + b"\r\n")
        sent += len(block)
    if not declared:
        h.wfile.write(b"0\r\n\r\n")


def _trickle_body(h: BaseHTTPRequestHandler) -> None:
    """Headers at once, then one byte per second (forever, as far as the client can tell)."""
    h.send_response(200)
    h.send_header("Content-Type", "application/rss+xml")
    h.send_header("Content-Length", "100000")
    h.end_headers()
    for _ in range(120):
        h.wfile.write(b" ")
        h.wfile.flush()
        time.sleep(1)


def _trickle_headers(h: BaseHTTPRequestHandler) -> None:
    """The status line and headers one byte per second: a per-read timeout never fires."""
    for byte in b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nX-Padding: " + b"a" * 200:
        h.wfile.write(bytes([byte]))
        h.wfile.flush()
        time.sleep(1)


def _garbage(h: BaseHTTPRequestHandler) -> None:
    """Something like a TLS handshake where an HTTP response should be."""
    h.wfile.write(bytes.fromhex("160303007a020000760303") + bytes(range(256)) * 4)
    h.wfile.flush()
    h.close_connection = True


_gzip_bomb_cache: list[bytes] = []


def gzip_bomb() -> bytes:
    """About 50 KB of gzip that inflates to 50 MB of zeros. Compressed a megabyte at a time: the tests measure the
    peak memory of the client that reads it, so the server in the same process never holds the 50 MB either."""
    if not _gzip_bomb_cache:
        packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: a gzip member
        megabyte = b"\0" * (1024 * 1024)
        _gzip_bomb_cache.append(b"".join(packer.compress(megabyte) for _ in range(50)) + packer.flush())
    return _gzip_bomb_cache[0]


def illformed_headers(data: bytes) -> dict[str, str]:
    """The HTTP headers a feedparser test file asks for in its leading comment (`Header: Name: value`)."""
    head = data[:1000].decode("latin-1")
    return {m.group(1).strip(): m.group(2).strip() for m in re.finditer(r"Header:\s*([\w-]+):\s*([^\r\n]+)", head)}


def illformed_files() -> list[Path]:
    return sorted(p for p in ILLFORMED.rglob("*.xml"))


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE rss [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<rss version="2.0"><channel><title>laughs</title>
<item><title>&lol9;</title><link>http://example.org/laughs</link></item>
</channel></rss>"""


def xxe(secret_url: str) -> bytes:
    return f"""<?xml version="1.0"?>
<!DOCTYPE rss [
 <!ENTITY file SYSTEM "file:///etc/passwd">
 <!ENTITY remote SYSTEM "{secret_url}">
]>
<rss version="2.0"><channel><title>xxe</title>
<item><title>a &file; b</title><link>http://example.org/xxe1</link><description>c &remote; d</description></item>
</channel></rss>""".encode()


def install_default_routes(s: HostileServer) -> None:
    """Every hostile case under a stable path (see docs/reliability.md)."""
    r = s.routes
    # a well-behaved outlet: its feed and pages
    good = [{"title": f"Drone crossed the border, report {i}", "link": s.url(f"/good/{i}.html"),
             "guid": f"good-{i}", "pubDate": _date(i)} for i in range(3)]
    r["/good/feed.xml"] = static(rss(good))
    for i in range(3):
        r[f"/good/{i}.html"] = static(article_html(good[i]["title"]), content_type="text/html; charset=utf-8")

    # encodings
    latin = "Flugzeug über Gdańsk? Überflug".encode("latin-1", errors="replace")
    r["/enc/wrong.xml"] = static(  # declared utf-8, bytes latin-1
        b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>w</title><item><title>'
        + latin + b'</title><link>http://example.org/enc-wrong</link></item></channel></rss>')
    r["/enc/missing.xml"] = static(  # no declaration, no charset, cp1252 bytes
        b'<rss version="2.0"><channel><title>m</title><item><title>Caf\xe9 \x93quoted\x94</title>'
        b'<link>http://example.org/enc-missing</link></item></channel></rss>', content_type="application/xml")
    r["/enc/bogus.xml"] = static(
        b'<?xml version="1.0" encoding="x-no-such-charset"?><rss version="2.0"><channel><title>b</title><item>'
        b'<title>bogus</title><link>http://example.org/enc-bogus</link></item></channel></rss>')
    r["/entity.xml"] = static(rss([{"title": "Undefined &nbsp; entity &bogus;", "link": "http://example.org/entity"}]))

    # bombs
    r["/bomb/laughs.xml"] = static(BILLION_LAUGHS)
    r["/bomb/xxe.xml"] = lambda h: send(h, 200, xxe(s.url("/secret")))
    r["/secret"] = static(b"TOP-SECRET", content_type="text/plain")
    r["/bomb/gzip.xml"] = lambda h: send(h, 200, gzip_bomb(), headers={"Content-Encoding": "gzip"})
    r["/bomb/gzip-page.html"] = lambda h: send(h, 200, gzip_bomb(), "text/html", {"Content-Encoding": "gzip"})
    r["/bomb/bad-gzip.xml"] = static(b"\x1f\x8b\x08\x00 this is not gzip", headers={"Content-Encoding": "gzip"})
    r["/bomb/brotli.xml"] = static(b"\x00\x01", headers={"Content-Encoding": "br"})

    # size and time
    r["/huge.xml"] = _huge
    r["/huge-declared.xml"] = lambda h: _huge(h, declared=True)
    r["/slow.xml"] = _trickle_body
    r["/slow-headers.xml"] = _trickle_headers

    # redirects
    r["/redirect/loop-a"] = redirect("/redirect/loop-b")
    r["/redirect/loop-b"] = redirect("/redirect/loop-a")
    r["/redirect/chain"] = redirect("/redirect/chain-1")
    for i in range(1, 10):
        r[f"/redirect/chain-{i}"] = redirect(f"/redirect/chain-{i + 1}")
    r["/redirect/metadata"] = redirect("http://169.254.169.254/latest/meta-data/")
    r["/redirect/file"] = redirect("file:///etc/passwd")
    r["/redirect/good"] = redirect("/good/feed.xml", 301)

    # statuses
    for code in (404, 410, 500):
        r[f"/status/{code}"] = static(b"error", code, "text/plain")
    r["/status/429"] = static(b"slow down", 429, "text/plain", {"Retry-After": "7200"})
    r["/status/503"] = static(b"maintenance", 503, "text/plain",
                              {"Retry-After": format_datetime(datetime.now(UTC) + timedelta(hours=3), usegmt=True)})
    r["/status/503-inf"] = static(b"maintenance", 503, "text/plain", {"Retry-After": "inf"})

    # not a feed
    r["/garbage.xml"] = _garbage
    r["/empty.xml"] = static(b"")
    r["/html.xml"] = static(b"<!doctype html><html><body><h1>Welcome</h1><p>Not a feed.</p></body></html>",
                            content_type="text/html")

    # big and odd feeds
    many = [{"title": f"Item {i}", "link": f"http://example.org/many/{i}", "guid": f"m{i}", "pubDate": _date(-i % 400)}
            for i in range(10_000)]
    r["/many.xml"] = static(rss(many))
    r["/dupes.xml"] = static(rss([{"title": "Same guid A", "guid": "same", "link": "http://example.org/dup"},
                                  {"title": "Same guid B", "guid": "same", "link": "http://example.org/dup"},
                                  {"title": "Same guid, other link", "guid": "same", "link": "http://example.org/dup2"}]))
    r["/dates.xml"] = static(rss([
        {"title": "From the future", "link": "http://example.org/future", "pubDate": "Tue, 01 Jan 2999 00:00:00 GMT"},
        {"title": "From 1970", "link": "http://example.org/epoch", "pubDate": "Thu, 01 Jan 1970 00:00:00 GMT"},
        {"title": "No valid date", "link": "http://example.org/nodate", "pubDate": "yesterday-ish"},
        {"title": "Year ten thousand", "link": "http://example.org/y10k", "pubDate": "Sat, 01 Jan 10000 00:00:00 GMT"},
    ]))
    r["/titles.xml"] = static(rss([
        {"title": "Line one\r\nLine two\r\n", "link": "http://example.org/crlf"},
        {"title": "<![CDATA[<script>alert(1)</script>Drone seen]]>", "link": "http://example.org/script"},
        {"title": "&lt;script&gt;alert(2)&lt;/script&gt; escaped", "link": "http://example.org/escaped",
         "description": "<![CDATA[<img src=x onerror=alert(3)><b>bold</b>]]>"},
        {"title": "'; DROP TABLE articles; --", "link": "http://example.org/sql?q=';DROP TABLE entries;--"},
        {"title": "javascript link", "link": "javascript:alert(4)", "guid": "js-link"},
    ]))
    for path in illformed_files():
        data = path.read_bytes()
        headers = illformed_headers(data)
        ctype = headers.pop("Content-type", headers.pop("Content-Type", "application/xml"))
        r["/illformed/" + path.relative_to(ILLFORMED).as_posix()] = static(data, content_type=ctype, headers=headers)

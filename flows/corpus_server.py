"""A local HTTP server for a corpus in the dev-corpus layout (site/<outlet>/feed.xml and pages): replaces the
`{{BASE}}` placeholder with its own URL, answers conditional GETs, and can hide feed items published after a
virtual clock so a replay sees the stream as it unfolded. Used by `newswatch demo`, `newswatch eval` and the tests.
"""

from __future__ import annotations

import hashlib
import re
import threading
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

_ITEM = re.compile(rb"<(item|entry)\b[^>]*>.*?</\1>", re.S)
_DATE = re.compile(rb"<(pubDate|published|updated|dc:date)>\s*([^<]+?)\s*</\1>", re.S)


def _item_time(block: bytes) -> datetime | None:
    match = _DATE.search(block)
    if not match:
        return None
    raw = match.group(2).decode("ascii", errors="ignore")
    try:
        when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        try:
            when = parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def filter_feed(body: bytes, clock: datetime) -> bytes:
    """Drop <item>/<entry> elements published after `clock`; bytes outside items stay untouched (encoding kept)."""

    def keep(match: re.Match[bytes]) -> bytes:
        when = _item_time(match.group(0))
        return match.group(0) if when is None or when <= clock else b""

    return _ITEM.sub(keep, body)


class CorpusServer:
    """`with CorpusServer(site_dir) as server:` serves on 127.0.0.1 at an ephemeral port (or `port`)."""

    def __init__(self, site_dir: Path, port: int = 0, clock: datetime | None = None) -> None:
        self.site_dir = Path(site_dir)
        if not self.site_dir.is_dir():
            raise FileNotFoundError(f"corpus site directory not found: {self.site_dir}")
        self.clock = clock
        self.requests: list[str] = []
        self._lock = threading.Lock()
        handler = partial(_Handler, self)
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="corpus-server", daemon=True)

    def feed_urls(self) -> dict[str, str]:
        """outlet -> URL of its main feed.xml."""
        return {p.parent.name: f"{self.base_url}/{p.parent.name}/feed.xml"
                for p in sorted(self.site_dir.glob("*/feed.xml"))}

    def set_clock(self, clock: datetime | None) -> None:
        with self._lock:
            self.clock = clock

    def __enter__(self) -> CorpusServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _Handler(SimpleHTTPRequestHandler):
    # Headers and body are two writes: with Nagle on, each body waited for the client's delayed ACK (40 ms).
    disable_nagle_algorithm = True

    def __init__(self, server_state: CorpusServer, *args: object, **kwargs: object) -> None:
        self.state = server_state
        super().__init__(*args, directory=str(server_state.site_dir), **kwargs)  # type: ignore[arg-type]

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet
        pass

    def do_GET(self) -> None:  # noqa: N802
        path = unquote(urlsplit(self.path).path).lstrip("/")
        self.state.requests.append(path)
        file = (self.state.site_dir / path).resolve()
        if not file.is_file() or self.state.site_dir.resolve() not in file.parents:
            self.send_error(404)
            return
        data = file.read_bytes().replace(b"{{BASE}}", self.state.base_url.encode())
        if file.suffix == ".xml" and self.state.clock is not None:
            data = filter_feed(data, self.state.clock)
        etag = '"' + hashlib.sha256(data).hexdigest()[:20] + '"'
        if self.headers.get("If-None-Match") == etag:
            self.send_response(304)
            self.send_header("ETag", etag)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/xml" if file.suffix == ".xml" else "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("ETag", etag)
        self.end_headers()
        self.wfile.write(data)

"""Run inside an empty network namespace (tests/test_netns.py): a "public" host made in the namespace itself (its
loopback interface also holding 93.184.216.34: the namespace has no other, so nothing can leave it), a real proxy on loopback, and the fetch client
with the address guard on. Prints one JSON object of outcomes. Test support only."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

PUBLIC = "93.184.216.34"


def _network() -> None:
    for cmd in (["ip", "link", "set", "lo", "up"], ["ip", "addr", "add", f"{PUBLIC}/32", "dev", "lo"]):
        subprocess.run(cmd, check=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:  # noqa: N802
        if self.path.startswith("/hop/"):
            self.send_response(302)
            self.send_header("Location", "http://" + self.path[len("/hop/"):])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = f"<rss version='2.0'><channel><title>via {self.headers.get('Via', 'none')}</title></channel></rss>"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from pipeline import web
    from pipeline.errors import FetchFailed
    from pipeline.proxies import ProxyRoutes
    from tests.proxy_server import Tinyproxy

    _network()
    httpd = ThreadingHTTPServer((PUBLIC, 0), _Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://{PUBLIC}:{httpd.server_address[1]}"
    out: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp, Tinyproxy(Path(tmp)) as proxy:
        for label, routes in (("direct", None), ("proxied", ProxyRoutes.from_settings(proxy.url, {}))):
            with web.make_client(5, "t", proxies=routes) as client:
                for case, url in (("feed", base + "/feed.xml"), ("hop-cgnat", base + "/hop/100.64.0.1/"),
                                  ("hop-metadata", base + "/hop/100.100.100.200/latest/"),
                                  ("hop-6to4", base + "/hop/[2002:7f00:1::]/")):
                    try:
                        resp = web.fetch(client, url, max_bytes=10_000, timeout_seconds=5, max_redirects=3,
                                         allow_private_addresses=False)
                        out[f"{label} {case}"] = resp.body.decode()
                    except FetchFailed as exc:
                        out[f"{label} {case}"] = exc.reason
        out["proxy requests"] = "\n".join(proxy.requests())
    httpd.shutdown()
    print(json.dumps(out))


if __name__ == "__main__":
    main()

"""A slow host costs only its own pages: a report from a healthy host is alerted within a normal cycle while
another host trickles its pages one byte every 2 s, and the slow pages are fetched in later cycles, none lost.

Two real servers on loopback aliases (127.0.0.1 trickles, 127.0.0.2 is healthy), a real SMTP server, the real
flow through Prefect."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CORPUS
from tests.outbox_servers import Mailbox, SmtpServer, free_port

SLOW_PAGES = 20
REPORT = CORPUS / "site/nordic-times/world/2025/09/19/russian-fighters-in-estonian-airspace-for-12-minutes.html"
REPORT_TITLE = "Russian fighters in Estonian airspace for 12 minutes, Tallinn says"


def _rss(base: str, items: list[tuple[str, str, datetime]]) -> bytes:
    body = "".join(f"<item><title>{title}</title><link>{base}{path}</link><guid>{base}{path}</guid>"
                   f"<pubDate>{format_datetime(when)}</pubDate><description>{title}.</description></item>"
                   for title, path, when in items)
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><link>{base}/</link>'
            f"<language>en</language>{body}</channel></rss>").encode()


class Site:
    """One outlet on `host`: a feed answered at once, and pages answered at once or trickled (headers, then one
    byte every 2 s, as long as the client listens). Records which paths were asked for and when."""

    def __init__(self, host: str, trickle: bool) -> None:
        self.trickle = trickle
        self.routes: dict[str, bytes] = {}
        self.requests: list[tuple[float, str]] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                site.requests.append((time.monotonic(), self.path))
                body = site.routes.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                feed = self.path.endswith(".xml")
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml" if feed else "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if feed or not site.trickle:
                    self.wfile.write(body)
                    return
                try:
                    for i in range(len(body)):
                        self.wfile.write(body[i:i + 1])
                        self.wfile.flush()
                        time.sleep(2.0)
                except OSError:  # the client gave up
                    pass

        self.httpd = ThreadingHTTPServer((host, 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://{host}:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def pages_asked(self) -> set[str]:
        return {p for _, p in self.requests if p.endswith(".html")}

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def sites() -> Iterator[tuple[Site, Site]]:
    slow, healthy = Site("127.0.0.1", trickle=True), Site("127.0.0.2", trickle=False)
    published = datetime(2025, 9, 19, 14, 30, tzinfo=UTC)
    # The slow outlet's pages are older, so they are first in line.
    slow_items = [(f"Weather outlook for the coast, part {i}", f"/weather/{i}.html", published - timedelta(hours=i + 1))
                  for i in range(SLOW_PAGES)]
    slow.routes["/feed.xml"] = _rss(slow.base, slow_items)
    for _, path, _ in slow_items:
        slow.routes[path] = b"<html><body><p>" + b"Calm seas and light winds. " * 40 + b"</p></body></html>"
    healthy.routes["/feed.xml"] = _rss(healthy.base, [(REPORT_TITLE, "/report.html", published)])
    healthy.routes["/report.html"] = REPORT.read_bytes().replace(b"{{BASE}}", healthy.base.encode())
    yield slow, healthy
    slow.close()
    healthy.close()


@pytest.mark.slow
def test_a_trickling_host_delays_neither_the_healthy_report_nor_loses_its_own_pages(
        make_settings: Any, sites: tuple[Site, Site], prefect_harness: None, tmp_path: Path) -> None:
    import warehouse.connection
    from flows import resources
    from flows.cycle import run_cycle
    from pipeline.clustering import cluster_model

    slow, healthy = sites
    received: list[tuple[float, str]] = []

    class Inbox(Mailbox):
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            reply = await super().handle_DATA(server, session, envelope)
            received.append((time.monotonic(), str(self.messages[-1]["Subject"])))
            return reply

    mail = SmtpServer(free_port(), Inbox())
    mail.start()
    try:
        settings = make_settings(
            fetch={"timeout_seconds": 20, "concurrency": 8, "per_host_concurrency": 2, "straggler_seconds": 10},
            feeds=[{"name": "slow-outlet", "url": f"{slow.base}/feed.xml"},
                   {"name": "healthy-outlet", "url": f"{healthy.base}/feed.xml"}],
            smtp={"host": "127.0.0.1", "port": mail.port, "security": "none"},
            alerts={"channels": [{"name": "desk", "type": "email", "to": ["desk@example.org"]}]})
        # the models are loaded before the clock starts, as in a running `newswatch serve`
        resources.classifier(settings.topic.classifier_path, settings.embed.model)
        resources.embedder(cluster_model(settings.cluster), settings.embed.batch_size)

        started = time.monotonic()
        first = run_cycle(settings)  # a one-shot run: stores its stragglers before returning
        # Waiting for every slow page (20 pages x 20 s / 2 per host) would take 200 s before judging anything.
        assert [s.split(" (")[0] for _, s in received] == [f"[newswatch] New incident: {REPORT_TITLE}"]
        assert received[0][0] - started < 60.0
        assert first.incidents_opened == 1
        asked_first = slow.pages_asked()
        assert len(asked_first) == 2  # the host's two slots (fetch.per_host_concurrency), then the cycle went on

        with warehouse.connection.open_warehouse(settings.warehouse.path, read_only=True) as con:
            stored = dict(con.execute("SELECT url, status FROM articles WHERE feed = 'slow-outlet'").fetchall())
        assert set(stored) == {slow.base + p for p in asked_first}  # the stragglers were stored, not dropped
        assert set(stored.values()) == {"timeout"}  # and will be tried again

        run_cycle(settings)  # the next cycle takes the slow host's next pages
        asked_second = slow.pages_asked() - asked_first
        assert len(asked_second) == 2
        with warehouse.connection.open_warehouse(settings.warehouse.path, read_only=True) as con:
            urls = {r[0] for r in con.execute("SELECT url FROM articles WHERE feed = 'slow-outlet'").fetchall()}
        assert urls == {slow.base + p for p in asked_first | asked_second}
        assert len(received) == 1  # one alert per incident
    finally:
        mail.stop()

"""A page that fails transiently is fetched again later; later stages wait for it instead of judging a stub."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

import warehouse.articles
import warehouse.connection
from flows.stages import fetch_articles
from pipeline.models import FeedEntry

ARTICLE = ("<html><body><article><h1>Drones over the border</h1>"
           + "".join(f"<p>Paragraph {i}: air defence units tracked several drones that crossed the border "
                     "overnight, officials said, and airports paused traffic for hours.</p>" for i in range(8))
           + "</article></body></html>").encode()


@pytest.fixture
def flaky_server() -> Iterator[dict[str, Any]]:
    state = {"calls": 0}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            state["calls"] += 1
            if state["calls"] == 1:
                self.send_response(503)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(ARTICLE)))
            self.end_headers()
            self.wfile.write(ARTICLE)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state["url"] = f"http://127.0.0.1:{server.server_address[1]}/story.html"
    yield state
    server.shutdown()


def test_a_503_page_is_retried_and_then_extracted(make_settings, flaky_server) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(fetch={"page_retry_minutes": 0.001, "page_attempts": 3})
    entry = FeedEntry("e1", "f", "g1", flaky_server["url"], "Drones over the border", "Summary only.",
                      datetime(2025, 9, 10, tzinfo=UTC), "en")
    with warehouse.connection.open_warehouse(settings.warehouse.path) as con:
        warehouse.articles.upsert_entries(con, [entry], datetime.now(UTC))
    fetch_articles.fn(settings)
    with warehouse.connection.open_warehouse(settings.warehouse.path) as con:
        assert con.execute("SELECT status, retry_at IS NOT NULL FROM articles").fetchone() == ("http_503", True)
        assert warehouse.articles.pending_embeddings(con, "m") == []  # waits for the retry, not judged on the summary
    time.sleep(0.2)
    fetch_articles.fn(settings)
    with warehouse.connection.open_warehouse(settings.warehouse.path) as con:
        row = con.execute("SELECT status, fetch_attempts, retry_at FROM articles").fetchone()
        assert row == ("ok", 2, None)
        assert [a.article_id for a in warehouse.articles.pending_embeddings(con, "m")] == ["e1"]


def test_a_page_failing_every_time_is_final_after_its_attempts(make_settings, flaky_server) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(fetch={"page_retry_minutes": 0.001, "page_attempts": 1})
    entry = FeedEntry("e1", "f", "g1", flaky_server["url"], "T", "Summary only.", datetime(2025, 9, 10, tzinfo=UTC), "en")
    with warehouse.connection.open_warehouse(settings.warehouse.path) as con:
        warehouse.articles.upsert_entries(con, [entry], datetime.now(UTC))
    fetch_articles.fn(settings)
    with warehouse.connection.open_warehouse(settings.warehouse.path) as con:
        assert con.execute("SELECT status, retry_at FROM articles").fetchone() == ("http_503", None)
        assert len(warehouse.articles.pending_embeddings(con, "m")) == 1  # judged on its title and summary

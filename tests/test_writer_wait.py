"""A CLI writer waits for a unit of work of the running stage, not for the whole cycle: `newswatch mute`, started
while a cycle works through a backlog, gets the warehouse and returns while the cycle is still running.

A real backlog served on loopback, the real flow through Prefect in a thread, the real CLI in another process
(DuckDB lets one process at a time open the file)."""

from __future__ import annotations

import subprocess
import sys
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

BACKLOG = 160  # articles: several embedding batches, then the clustering model on the relevant ones


@pytest.fixture
def backlog_server() -> Iterator[dict[str, Any]]:
    """One feed of BACKLOG items whose pages are the dev corpus pages under new URLs; counts page GETs."""
    pages = sorted((CORPUS / "site").glob("*/**/*.html"))
    state: dict[str, Any] = {"page_gets": 0}
    routes: dict[str, bytes] = {}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            body = routes.get(self.path)
            if body is None:
                self.send_error(404)
                return
            if self.path.endswith(".html"):
                state["page_gets"] += 1
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml" if self.path.endswith(".xml") else "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    base = f"http://127.0.0.1:{server.server_address[1]}"
    items = []
    start = datetime(2025, 9, 1, tzinfo=UTC)
    for i in range(BACKLOG):
        path = f"/a/{i}.html"
        routes[path] = pages[i % len(pages)].read_bytes().replace(b"{{BASE}}", base.encode())
        items.append(f"<item><title>Story {i}</title><link>{base}{path}</link><guid>{base}{path}</guid>"
                     f"<pubDate>{format_datetime(start + timedelta(minutes=i))}</pubDate></item>")
    routes["/feed.xml"] = (f'<?xml version="1.0"?><rss version="2.0"><channel><title>b</title><link>{base}/</link>'
                           f"{''.join(items)}</channel></rss>").encode()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state["feed"] = f"{base}/feed.xml"
    yield state
    server.shutdown()
    server.server_close()


@pytest.mark.slow
def test_a_cli_writer_gets_the_warehouse_while_a_backlog_cycle_runs(
        tmp_path: Path, make_settings: Any, backlog_server: dict[str, Any], prefect_harness: None) -> None:
    import warehouse.connection
    import warehouse.feeds
    from flows import resources
    from flows.cycle import run_cycle
    from pipeline.models import FeedSource

    wh = tmp_path / "nw.duckdb"
    config = tmp_path / "c.toml"
    config.write_text(f'[warehouse]\npath = "{wh}"\nbusy_timeout_seconds = 300\n[fetch]\nallow_private_addresses = true\n'
                      f'[[feeds]]\nname = "backlog"\nurl = "{backlog_server["feed"]}"\n', encoding="utf-8")
    settings = make_settings(warehouse={"path": str(wh), "busy_timeout_seconds": 300},
                             feeds=[{"name": "backlog", "url": backlog_server["feed"]}])
    resources.classifier(settings.topic.classifier_path, settings.embed.model)  # loaded before
    with warehouse.connection.open_warehouse(wh) as con:  # the feed is known, as after any earlier cycle
        warehouse.feeds.upsert_feeds(con, [FeedSource("backlog", backlog_server["feed"])])

    outcome: dict[str, Any] = {}

    def cycle() -> None:
        outcome["report"] = run_cycle(settings)
        outcome["ended"] = time.monotonic()

    worker = threading.Thread(target=cycle)
    worker.start()
    while backlog_server["page_gets"] == 0 and worker.is_alive():  # the cycle is into its backlog
        time.sleep(0.05)
    mute = subprocess.run([sys.executable, "-m", "flows", "mute", "backlog", "-c", str(config), "--reason", "test"],
                          capture_output=True, text=True, timeout=600)
    muted_at = time.monotonic()
    cycle_still_running = worker.is_alive()
    worker.join(timeout=900)

    assert mute.returncode == 0, mute.stderr
    assert "muted backlog" in mute.stdout
    assert cycle_still_running  # the writer did not wait for the end of the cycle
    assert outcome["ended"] > muted_at
    report = outcome["report"]
    assert report.judged == BACKLOG  # the cycle lost nothing to the writer
    with warehouse.connection.open_warehouse(wh, read_only=True) as con:
        assert warehouse.feeds.muted_feeds(con) == {"backlog"}

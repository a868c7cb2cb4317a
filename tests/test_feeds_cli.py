"""Feeds managed without editing files: `newswatch feeds list|add|remove|import-opml|export-opml` against a real
HTTP server on loopback and a real warehouse; the next cycle's poll (the real task) sees every change."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

import pytest
from click.testing import CliRunner

import warehouse.connection
import warehouse.paths
import warehouse.queries
from flows.cli import main
from flows.stages import poll_feeds
from pipeline.opml import parse_opml
from pipeline.settings import load_settings

RSS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>{title}</title><link>http://127.0.0.1/</link>
<item><title>Report {n}</title><link>{base}/pages/{n}.html</link><guid>{base}/pages/{n}.html</guid>
<pubDate>Wed, 10 Sep 2025 06:05:00 GMT</pubDate></item></channel></rss>"""
PAGE = b"<!doctype html><html><head><title>Example News</title></head><body><p>Welcome</p></body></html>"


@pytest.fixture(scope="module")
def feed_server() -> Iterator[str]:
    """/feeds/N.xml: RSS titled "Feed N" with one item; /page.html: a web page; /gone: 404; /empty: empty 200."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            base = f"http://127.0.0.1:{self.server.server_address[1]}"
            status, ctype, body = 404, "text/plain", b"not found"
            if self.path.startswith("/feeds/") and self.path.endswith(".xml"):
                n = self.path[len("/feeds/"):-len(".xml")]
                status, ctype, body = 200, "application/rss+xml", RSS.format(title=f"Feed {n}", n=n, base=base).encode()
            elif self.path == "/page.html":
                status, ctype, body = 200, "text/html; charset=utf-8", PAGE
            elif self.path == "/empty":
                status, ctype, body = 200, "application/rss+xml", b""
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def write_config(tmp_path: Path, *, private: bool = True, feeds: str = "") -> Path:
    config = tmp_path / "c.toml"
    config.write_text(f'[warehouse]\npath = "{tmp_path / "nw.duckdb"}"\nbusy_timeout_seconds = 5\n'
                      f'[fetch]\nallow_private_addresses = {str(private).lower()}\ntimeout_seconds = 5\n{feeds}',
                      encoding="utf-8")
    return config


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_config(tmp_path)


def run(*args: str, input: str | None = None) -> Any:
    return CliRunner().invoke(main, list(args), input=input)


def listed(config: Path, *args: str) -> list[dict[str, Any]]:
    result = run("feeds", "list", "-c", str(config), "--format", "json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


# Twenty feeds as a reader exports them: folders nested two deep, titles with markup characters and non-ASCII.
FOLDERS = {("News", "Europe"): range(0, 8), ("News", "Nordics"): range(8, 14), ("Defence",): range(14, 18), (): range(18, 20)}


def twenty_feed_opml(base: str) -> str:
    def feed(n: int) -> str:
        title = f"Feed {n}" if n % 5 else f"Łódź & <Co> {n}"
        return (f'<outline type="rss" text={quoteattr(title)} title={quoteattr(title)} '
                f'xmlUrl="{base}/feeds/{n}.xml" htmlUrl="{base}/"/>')

    news = ('<outline text="News" title="News">'
            + "".join(f'<outline text="{sub}" title="{sub}">' + "".join(feed(n) for n in FOLDERS[("News", sub)])
                      + "</outline>" for sub in ("Europe", "Nordics"))
            + "</outline>")
    defence = '<outline text="Defence">' + "".join(feed(n) for n in FOLDERS[("Defence",)]) + "</outline>"
    top = "".join(feed(n) for n in FOLDERS[()])
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<opml version="1.0"><head><title>My reader</title></head>'
            f"<body>{top}{news}{defence}</body></opml>")


def test_twenty_feeds_round_trip_through_import_list_and_export(config: Path, feed_server: str,
                                                                tmp_path: Path) -> None:
    source = tmp_path / "reader.opml"
    source.write_text(twenty_feed_opml(feed_server), encoding="utf-8")
    result = run("feeds", "import-opml", "-c", str(config), str(source))
    assert result.exit_code == 0, result.output
    assert "imported 20 feeds" in result.output

    rows = listed(config)
    assert len(rows) == 20 and {r["source"] for r in rows} == {"added"}
    by_url = {r["url"]: r for r in rows}
    assert by_url[f"{feed_server}/feeds/3.xml"]["category"] == "News/Europe"
    assert by_url[f"{feed_server}/feeds/10.xml"]["title"] == "Łódź & <Co> 10"
    assert by_url[f"{feed_server}/feeds/10.xml"]["name"] == "lodz-co-10"
    assert by_url[f"{feed_server}/feeds/19.xml"]["category"] is None

    exported = run("feeds", "export-opml", "-c", str(config))
    assert exported.exit_code == 0, exported.output

    def feeds(text: str) -> set[tuple[str, str, str | None]]:
        return {(f.title, f.xml_url, f.category) for f in parse_opml(text)}

    assert feeds(exported.stdout) == feeds(source.read_text(encoding="utf-8"))
    assert len(feeds(exported.stdout)) == 20
    # and back: a fresh warehouse importing the export exports the very same document
    again = tmp_path / "again"
    again.mkdir()
    config2 = write_config(again)
    (again / "export.opml").write_text(exported.stdout, encoding="utf-8")
    assert run("feeds", "import-opml", "-c", str(config2), str(again / "export.opml")).exit_code == 0
    assert run("feeds", "export-opml", "-c", str(config2)).stdout == exported.stdout


def test_importing_again_skips_feeds_already_present(config: Path, feed_server: str) -> None:
    opml = twenty_feed_opml(feed_server)
    assert run("feeds", "import-opml", "-c", str(config), "-", input=opml).exit_code == 0
    result = run("feeds", "import-opml", "-c", str(config), "-", input=opml)
    assert result.exit_code == 0 and "imported 0 feeds from -; 20 already present, skipped" in result.output
    assert len(listed(config)) == 20


def test_a_file_that_is_not_opml_is_one_error_line(config: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.opml"
    bad.write_text("<html><body>hi</body></html>", encoding="utf-8")
    result = run("feeds", "import-opml", "-c", str(config), str(bad))
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [f"Error: {bad}: not an OPML feed list (root element <html> is "
                                                  "not <opml> with a <body>)"]


def test_add_checks_the_feed_and_names_it_after_its_title(config: Path, feed_server: str) -> None:
    result = run("feeds", "add", "-c", str(config), f"{feed_server}/feeds/7.xml", "--category", "Wire")
    assert result.exit_code == 0, result.output
    assert "added feed-7 (Feed 7)" in result.output
    [row] = listed(config)
    assert (row["name"], row["title"], row["category"], row["source"]) == ("feed-7", "Feed 7", "Wire", "added")
    again = run("feeds", "add", "-c", str(config), f"{feed_server}/feeds/7.xml")
    assert again.exit_code == 1 and "already a feed, named 'feed-7'" in again.output


@pytest.mark.parametrize("path, reason", [
    ("/page.html", "not a feed (an HTML page"),
    ("/gone", "http_404"),
    ("/empty", "not a feed (empty body)"),
])
def test_a_url_that_answers_but_is_not_a_feed_is_refused_with_the_reason(config: Path, feed_server: str,
                                                                         path: str, reason: str) -> None:
    result = run("feeds", "add", "-c", str(config), feed_server + path)
    assert result.exit_code == 1
    [line] = result.output.strip().splitlines()
    assert line.startswith(f"Error: not added: {feed_server}{path}") and reason in line
    assert listed(config) == []


def test_loopback_is_refused_unless_private_addresses_are_allowed(tmp_path: Path, feed_server: str) -> None:
    result = run("feeds", "add", "-c", str(write_config(tmp_path, private=False)), f"{feed_server}/feeds/1.xml")
    assert result.exit_code == 1 and "fetch.allow_private_addresses = true" in result.output


def test_remove_drops_an_added_feed_but_not_a_configured_one(tmp_path: Path, feed_server: str) -> None:
    config = write_config(tmp_path, feeds=f'[[feeds]]\nname = "wire"\nurl = "{feed_server}/feeds/1.xml"\n')
    assert run("feeds", "add", "-c", str(config), f"{feed_server}/feeds/2.xml").exit_code == 0
    assert [(r["name"], r["source"]) for r in listed(config)] == [("wire", "config"), ("feed-2", "added")]
    refused = run("feeds", "remove", "-c", str(config), "wire")
    assert refused.exit_code == 1 and "newswatch mute wire" in refused.output
    unknown = run("feeds", "remove", "-c", str(config), "nope")
    assert unknown.exit_code == 1 and "no added feed named 'nope'" in unknown.output
    assert run("feeds", "remove", "-c", str(config), "feed-2", "--reason", "dup").exit_code == 0
    assert [r["name"] for r in listed(config)] == ["wire"]
    clash = run("feeds", "add", "-c", str(config), f"{feed_server}/feeds/3.xml", "--name", "wire")
    assert clash.exit_code == 1 and "'wire': already used by a feed from the TOML config" in clash.output


def test_the_next_cycle_polls_added_feeds_and_stops_polling_removed_ones(config: Path, feed_server: str) -> None:
    settings = load_settings([config], environ={})
    assert run("feeds", "add", "-c", str(config), f"{feed_server}/feeds/1.xml").exit_code == 0
    report = poll_feeds.fn(settings)  # the cycle's own poll task, with the settings loaded before the add
    assert report.feeds_ok == 1 and report.new_entries == 1
    assert run("feeds", "add", "-c", str(config), f"{feed_server}/feeds/2.xml").exit_code == 0
    assert run("feeds", "remove", "-c", str(config), "feed-1").exit_code == 0
    report = poll_feeds.fn(settings)
    assert report.feeds_ok == 1 and report.new_entries == 1
    with warehouse.connection.open_warehouse(settings.warehouse.path, read_only=True) as con:
        polled = warehouse.queries.query(con, "SELECT feed, count(*) FROM entries GROUP BY feed ORDER BY feed")[1]
    assert polled == [("feed-1", 1), ("feed-2", 1)]
    rows = {r["name"]: r for r in listed(config, "--live")}  # the poll task alone publishes no snapshot
    assert rows["feed-2"]["last_status"] == "ok" and rows["feed-2"]["items_total"] == 1


def test_run_without_any_feed_says_how_to_add_one(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    result = run("run", "-c", str(config))
    # `run`: exit 2, down: with no feed the cycle cannot start (docs/operations.md)
    assert result.exit_code == 2 and "newswatch feeds add URL" in result.output


@pytest.mark.slow
def test_a_running_service_polls_a_feed_added_while_it_runs(tmp_path: Path, feed_server: str) -> None:
    """`newswatch serve` (a real process) started with one configured feed; a feed added while it runs is
    polled by one of its next cycles, without a restart."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import duckdb

    config = write_config(tmp_path, feeds=f'[[feeds]]\nname = "wire"\nurl = "{feed_server}/feeds/1.xml"\n')
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect")}
    service = subprocess.Popen([sys.executable, "-m", "flows", "serve", "-c", str(config), "--interval-minutes",
                                "0.05"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    snapshot = warehouse.paths.snapshot_path(tmp_path / "nw.duckdb")

    def feeds_in_snapshot() -> set[str]:
        if not snapshot.exists():
            return set()
        con = duckdb.connect(str(snapshot), read_only=True)
        try:
            return {r[0] for r in con.execute("SELECT DISTINCT feed FROM entries").fetchall()}
        finally:
            con.close()

    try:
        deadline = time.monotonic() + 300
        while feeds_in_snapshot() != {"wire"} and service.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert feeds_in_snapshot() == {"wire"}, service.stderr.read() if service.poll() is not None else ""
        added = run("feeds", "add", "-c", str(config), f"{feed_server}/feeds/2.xml", "--name", "late")
        assert added.exit_code == 0, added.output
        while "late" not in feeds_in_snapshot() and service.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert feeds_in_snapshot() == {"wire", "late"}
    finally:
        service.send_signal(signal.SIGINT)
        out, err = service.communicate(timeout=120)
    assert service.returncode == 0, err
    assert "newswatch serving 1 feeds" in err and "stopped after" in err

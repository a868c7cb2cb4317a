"""Hostile feeds and pages, fetched and parsed by the library against a real misbehaving server: every case ends
in entries or in one documented error with a clear reason, within the size and time limits. No model, no Prefect.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest

from pipeline import web
from pipeline.errors import FeedMalformed, FeedUnavailable, FetchFailed, FetchRefused
from pipeline.extract import extract_article
from pipeline.feeds import fetch_feed, parse_feed
from pipeline.models import FeedSource, ParsedFeed
from pipeline.settings import FetchSettings
from tests.hostile_server import ILLFORMED, HostileServer, PublicHost, illformed_files, redirect, rss, send

FETCH = FetchSettings(allow_private_addresses=True, timeout_seconds=3, max_feed_bytes=2_000_000, max_redirects=5)


@pytest.fixture(scope="module")
def server() -> Iterator[HostileServer]:
    with HostileServer() as s:
        yield s


def poll(server: HostileServer, path: str, fetch: FetchSettings = FETCH) -> ParsedFeed:
    """What poll_feeds does for one feed: conditional GET, then parse (errors propagate)."""
    source = FeedSource("hostile", server.url(path))
    with web.make_client(fetch.timeout_seconds, fetch.user_agent) as client:
        resp = fetch_feed(client, source, fetch, None, None)
    assert resp.body is not None
    return parse_feed(source, resp.body, resp.content_type, resp.final_url, fetch.max_entries_per_feed)


def reason_of(server: HostileServer, path: str, fetch: FetchSettings = FETCH) -> str:
    with pytest.raises((FetchFailed, FeedMalformed)) as info:
        poll(server, path, fetch)
    return info.value.reason if isinstance(info.value, FetchFailed) else "malformed"


# ------------------------------------------------------------------ refused with a reason

@pytest.mark.parametrize("path, reason, kind", [
    ("/status/404", "http_404", FetchRefused),
    ("/status/410", "http_410", FetchRefused),
    ("/status/500", "http_500", FeedUnavailable),
    ("/status/429", "http_429", FeedUnavailable),
    ("/status/503", "http_503", FeedUnavailable),
    ("/redirect/loop-a", "redirect_loop", FetchRefused),
    ("/redirect/chain", "too_many_redirects", FetchRefused),
    ("/redirect/file", "bad_scheme", FetchRefused),
    ("/huge.xml", "too_large", FetchRefused),
    ("/huge-declared.xml", "too_large", FetchRefused),
    ("/bomb/gzip.xml", "too_large", FetchRefused),
    ("/bomb/bad-gzip.xml", "bad_encoding", FetchRefused),
    ("/bomb/brotli.xml", "bad_encoding", FetchRefused),
    ("/garbage.xml", "protocol_error", FeedUnavailable),
    ("/slow.xml", "timeout", FeedUnavailable),
    ("/slow-headers.xml", "timeout", FeedUnavailable),
])
def test_a_hostile_response_is_refused_with_a_clear_reason(server: HostileServer, path: str, reason: str,
                                                          kind: type[Exception]) -> None:
    started = time.monotonic()
    with pytest.raises(kind) as info:
        poll(server, path)
    assert isinstance(info.value, FetchFailed) and info.value.reason == reason, info.value
    assert time.monotonic() - started < FETCH.timeout_seconds + 2  # the total time limit holds


@pytest.mark.parametrize("path, detail", [
    ("/empty.xml", "empty body"),
    ("/html.xml", "an HTML page"),
])
def test_a_body_that_is_not_a_feed_is_malformed(server: HostileServer, path: str, detail: str) -> None:
    with pytest.raises(FeedMalformed, match=detail):
        poll(server, path)


def test_retry_after_is_read_from_seconds_and_from_a_date(server: HostileServer) -> None:
    for path, low, high in (("/status/429", 7190, 7200), ("/status/503", 3 * 3600 - 60, 3 * 3600)):
        with pytest.raises(FeedUnavailable) as info:
            poll(server, path)
        assert info.value.retry_after_seconds is not None and low <= info.value.retry_after_seconds <= high
    with pytest.raises(FeedUnavailable) as info:
        poll(server, "/status/503-inf")
    assert info.value.retry_after_seconds is None  # nonsense is ignored, not obeyed


def test_a_gzip_bomb_never_inflates_past_the_cap(server: HostileServer) -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with web.make_client(5, "t") as client:
        with pytest.raises(FetchRefused, match="too_large"):
            web.fetch(client, server.url("/bomb/gzip-page.html"), max_bytes=1_000_000, timeout_seconds=5,
                      max_redirects=0, allow_private_addresses=True)
    grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kb < 40_000  # 50 MB of zeros were never held


# ------------------------------------------------------------------ recovered

def test_a_redirect_to_the_feed_is_followed(server: HostileServer) -> None:
    parsed = poll(server, "/redirect/good")
    assert len(parsed.entries) == 3


@pytest.mark.parametrize("path", ["/enc/wrong.xml", "/enc/missing.xml", "/enc/bogus.xml"])
def test_a_wrong_or_missing_encoding_still_gives_the_item(server: HostileServer, path: str) -> None:
    parsed = poll(server, path)
    assert len(parsed.entries) == 1 and parsed.entries[0].title


def test_an_undefined_entity_keeps_the_item_and_records_why(server: HostileServer) -> None:
    parsed = poll(server, "/entity.xml")
    assert len(parsed.entries) == 1 and parsed.bozo_reason and "entity" in parsed.bozo_reason


def test_billion_laughs_does_not_expand(server: HostileServer) -> None:
    started = time.monotonic()
    try:
        parsed = poll(server, "/bomb/laughs.xml")
    except FeedMalformed:
        return
    assert all(len(e.title) <= 1000 for e in parsed.entries)
    assert time.monotonic() - started < 5


def test_external_entities_are_never_resolved(server: HostileServer) -> None:
    before = server.hits.get("/secret", 0)
    try:
        parsed = poll(server, "/bomb/xxe.xml")
    except FeedMalformed:
        parsed = None
    assert server.hits.get("/secret", 0) == before
    if parsed is not None:
        text = " ".join(e.title + " " + e.summary for e in parsed.entries)
        assert "root:" not in text and "TOP-SECRET" not in text


def test_a_feed_of_ten_thousand_items_keeps_only_the_newest(server: HostileServer) -> None:
    parsed = poll(server, "/many.xml", FETCH.model_copy(update={"max_entries_per_feed": 200}))
    assert len(parsed.entries) == 200
    dates = [e.published_at for e in parsed.entries]
    assert dates == sorted(dates, reverse=True)  # type: ignore[type-var]


def test_duplicate_guids_and_links_give_one_entry_per_link(server: HostileServer) -> None:
    parsed = poll(server, "/dupes.xml")
    assert sorted(e.url for e in parsed.entries) == [server.url("/x/dup"), server.url("/x/dup2")]


def test_dates_in_the_future_1970_and_nonsense_are_kept_or_left_empty(server: HostileServer) -> None:
    by_url = {e.url: e.published_at for e in poll(server, "/dates.xml").entries}
    assert by_url[server.url("/x/future")] is not None and by_url[server.url("/x/future")].year == 2999
    assert by_url[server.url("/x/epoch")] is not None and by_url[server.url("/x/epoch")].year == 1970
    assert by_url[server.url("/x/nodate")] is None


def test_titles_are_one_line_of_plain_text(server: HostileServer) -> None:
    entries = {e.url: e for e in poll(server, "/titles.xml").entries}
    for e in entries.values():
        assert "\r" not in e.title and "\n" not in e.title
    assert entries[server.url("/x/crlf")].title == "Line one Line two"
    assert "<script" not in entries[server.url("/x/script")].title.lower()
    assert "onerror" not in entries[server.url("/x/escaped")].summary
    # not an http(s) link: kept as an entry (identified by guid) but never fetched
    assert "javascript:alert(4)" in entries


@pytest.mark.parametrize("path", illformed_files(), ids=lambda p: p.relative_to(ILLFORMED).as_posix())
def test_feedparser_illformed_corpus_never_crashes(server: HostileServer, path) -> None:  # type: ignore[no-untyped-def]
    try:
        parsed = poll(server, "/illformed/" + path.relative_to(ILLFORMED).as_posix())
    except FeedMalformed as exc:
        assert exc.detail
        return
    for e in parsed.entries:
        assert "\n" not in e.title and len(e.title) <= 1000


# ------------------------------------------------------------------ pages

def test_a_page_gzip_bomb_or_garbage_becomes_a_skipped_article_reason(server: HostileServer) -> None:
    with web.make_client(3, "t") as client:
        for path, reason in (("/bomb/gzip-page.html", "too_large"), ("/garbage.xml", "protocol_error")):
            with pytest.raises(FetchFailed) as info:
                web.fetch(client, server.url(path), max_bytes=1_000_000, timeout_seconds=3, max_redirects=0,
                          allow_private_addresses=True)
            assert info.value.reason == reason


def test_extraction_of_hostile_bytes_answers_a_status(server: HostileServer) -> None:
    for body in (b"", b"\xff\xfe\x00garbage", b"<html>" * 10_000, b"<?xml version='1.0'?><rss/>", bytes(range(256))):
        result = extract_article("http://example.org/x", body, "text/html")
        assert result.status in ("ok", "no_text", "too_short", "js_shell", "paywall")


# ------------------------------------------------------------------ SSRF

@pytest.mark.parametrize("url", ["http://169.254.169.254/", "http://169.254.169.254/latest/meta-data/"])
def test_the_cloud_metadata_address_is_refused_by_default(url: str) -> None:
    with web.make_client(2, "t") as client, pytest.raises(FetchRefused, match="forbidden_address.*link-local") as info:
        web.fetch(client, url, max_bytes=1000, timeout_seconds=2, max_redirects=3, allow_private_addresses=False)
    assert "allow_private_addresses" in info.value.detail


def test_the_local_server_is_refused_by_default_and_never_contacted(server: HostileServer) -> None:
    before = dict(server.hits)
    for path in ("/good/feed.xml", "/redirect/metadata", "/secret"):
        with pytest.raises(FetchRefused, match="forbidden_address.*loopback"):
            poll(server, path, FETCH.model_copy(update={"allow_private_addresses": False}))
    assert server.hits == before


@pytest.mark.parametrize("target", ["http://169.254.169.254/latest/", "http://127.0.0.1:{port}/secret",
                                    "http://[::ffff:127.0.0.1]:{port}/secret", "http://0.0.0.0:{port}/secret"])
def test_a_public_feed_redirecting_to_a_forbidden_address_is_refused(server: HostileServer, target: str) -> None:
    server.routes["/public-hop.xml"] = redirect(target.format(port=server.port))
    with web.make_client(2, "t", connector=PublicHost(server)) as client:
        with pytest.raises(FetchRefused, match="forbidden_address"):
            web.fetch(client, "http://93.184.216.34/public-hop.xml", max_bytes=1000, timeout_seconds=2,
                      max_redirects=3, allow_private_addresses=False)
    assert server.hits.get("/public-hop.xml") and server.hits.get("/secret", 0) == 0


def test_dns_rebinding_cannot_reach_loopback(server: HostileServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """The name resolves to a public address when checked and to 127.0.0.1 afterwards: the connection goes to
    the checked address (pinned), so the local server never sees the request."""
    import socket

    real = socket.getaddrinfo
    answers = iter(["93.184.216.34"])

    def rebinding(host, port, *args, **kwargs):  # type: ignore[no-untyped-def]
        if host == "rebind.test":
            ip = next(answers, "127.0.0.1")
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port))]
        return real(host, port, *args, **kwargs)

    attempted: list[str] = []
    real_connect = socket.create_connection

    def no_public_traffic(address, *args, **kwargs):  # type: ignore[no-untyped-def]
        # Never let a packet leave for the public address, whatever plugins are active: refuse it here.
        if not str(address[0]).startswith("127."):
            attempted.append(str(address[0]))
            raise ConnectionRefusedError(f"test refuses {address[0]}")
        return real_connect(address, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    monkeypatch.setattr(socket, "create_connection", no_public_traffic)
    with web.make_client(2, "t") as client, pytest.raises(Exception) as info:
        web.fetch(client, f"http://rebind.test:{server.port}/secret", max_bytes=1000, timeout_seconds=2,
                  max_redirects=0, allow_private_addresses=False)
    # the connection went to the checked (pinned) public address, not to loopback
    assert attempted == ["93.184.216.34"] or "93.184.216.34" in str(info.value), (attempted, info.value)
    assert server.hits.get("/secret", 0) == 0


def test_the_connected_peer_is_checked_again(server: HostileServer) -> None:
    """A connection that lands on a loopback address (here a public URL delivered to 127.0.0.1, as a proxy or a
    rebinding resolver would) is refused before the body is read, whatever the URL said."""
    network = PublicHost(server, as_public=False)
    with web.make_client(2, "t", connector=network) as client:
        with pytest.raises(FetchRefused, match="forbidden_address.*loopback"):
            web.fetch(client, "http://93.184.216.34/good/feed.xml", max_bytes=10_000, timeout_seconds=2,
                      max_redirects=0, allow_private_addresses=False)
    assert network.attempted == ["93.184.216.34"]


@pytest.mark.parametrize("url, reason", [("ftp://example.org/feed", "bad_scheme"), ("file:///etc/passwd", "bad_scheme"),
                                         ("gopher://127.0.0.1:70/", "bad_scheme"), ("http:///nohost", "bad_url"),
                                         ("http://example.org:99999/", "bad_url")])
def test_only_http_and_https_urls_with_a_host_are_fetched(url: str, reason: str) -> None:
    with web.make_client(2, "t") as client, pytest.raises(FetchRefused) as info:
        web.fetch(client, url, max_bytes=1000, timeout_seconds=2, max_redirects=0, allow_private_addresses=False)
    assert info.value.reason == reason


def test_a_trickling_server_is_cut_at_the_deadline_on_a_reused_connection(server: HostileServer) -> None:
    """The cycle shares one keep-alive client across GETs: the second GET goes out on the first one's connection,
    and the total-time limit holds there too, even while the headers arrive one byte a second."""
    with web.make_client(2, "t") as client:
        web.fetch(client, server.url("/good/feed.xml"), max_bytes=10**6, timeout_seconds=2, max_redirects=0,
                  allow_private_addresses=True)
        connections = server.connections
        started = time.monotonic()
        with pytest.raises(FeedUnavailable, match="timeout"):
            web.fetch(client, server.url("/slow-headers.xml"), max_bytes=10**6, timeout_seconds=2, max_redirects=0,
                      allow_private_addresses=True)
        assert time.monotonic() - started < 3
        assert server.connections == connections  # no new connection: the kept-alive one was reused


def test_a_trickling_body_is_cut_at_the_deadline(server: HostileServer) -> None:
    with web.make_client(2, "t") as client:
        started = time.monotonic()
        with pytest.raises(FeedUnavailable, match="timeout"):
            web.fetch(client, server.url("/slow.xml"), max_bytes=10**6, timeout_seconds=2, max_redirects=0,
                      allow_private_addresses=True)
        assert time.monotonic() - started < 3


def test_gets_to_one_host_reuse_one_kept_alive_connection(server: HostileServer) -> None:
    """An idle cycle's conditional GETs cost one round trip each, not a new connection each."""
    with web.make_client(5, "t") as client:
        web.fetch(client, server.url("/good/feed.xml"), max_bytes=10**6, timeout_seconds=5, max_redirects=0,
                  allow_private_addresses=True)
        before = server.connections
        for _ in range(5):
            again = web.fetch(client, server.url("/good/feed.xml"), max_bytes=10**6, timeout_seconds=5,
                              max_redirects=0, allow_private_addresses=True)
            assert again.status == 200
        assert server.connections == before


def _cut_body(h: BaseHTTPRequestHandler) -> None:
    h.send_response(200)
    h.send_header("Content-Type", "application/rss+xml")
    h.send_header("Content-Length", "1000")
    h.end_headers()
    h.wfile.write(b"<rss version='2.0'><channel>")  # 28 of the 1,000 bytes promised, then the connection closes
    h.close_connection = True


def _chunked(h: BaseHTTPRequestHandler) -> None:
    body = rss([{"title": "Chunked drone report", "link": "http://example.org/chunked"}])
    h.send_response(200)
    h.send_header("Content-Type", "application/rss+xml")
    h.send_header("Transfer-Encoding", "chunked")
    h.end_headers()
    for part in (body[:40], body[40:90], body[90:]):
        h.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
    h.wfile.write(b"0\r\n\r\n")


def _answer_then_hang_up(h: BaseHTTPRequestHandler) -> None:
    """A keep-alive answer (no Connection: close), after which the server drops the connection anyway, as servers
    do with idle connections."""
    send(h, 200, rss([{"title": "Hung up", "link": "http://example.org/hung-up"}]))
    h.close_connection = True


def test_a_body_cut_short_of_its_content_length_is_a_protocol_error(server: HostileServer) -> None:
    server.routes["/cut.xml"] = _cut_body
    assert reason_of(server, "/cut.xml") == "protocol_error"


def test_a_chunked_body_is_read_whole_and_its_connection_kept(server: HostileServer) -> None:
    server.routes["/chunked.xml"] = _chunked
    with web.make_client(5, "t") as client:
        first = web.fetch(client, server.url("/chunked.xml"), max_bytes=10**6, timeout_seconds=5, max_redirects=0,
                          allow_private_addresses=True)
        before = server.connections
        again = web.fetch(client, server.url("/chunked.xml"), max_bytes=10**6, timeout_seconds=5, max_redirects=0,
                          allow_private_addresses=True)
    assert first.body == again.body and first.body.endswith(b"</rss>") and b"Chunked drone report" in first.body
    assert server.connections == before


def test_a_kept_alive_connection_the_server_dropped_is_replaced(server: HostileServer) -> None:
    server.routes["/hang-up.xml"] = _answer_then_hang_up
    with web.make_client(5, "t") as client:
        for _ in range(3):  # each GET finds its kept connection closed by the server and opens a new one
            before = server.connections
            resp = web.fetch(client, server.url("/hang-up.xml"), max_bytes=10**6, timeout_seconds=5,
                             max_redirects=0, allow_private_addresses=True)
            assert resp.status == 200 and b"Hung up" in resp.body
            assert server.connections == before + 1

"""Poll stage against a real local server: conditional GET, encodings, bad entities, duplicates."""

from __future__ import annotations

import pytest

from pipeline import web
from pipeline.errors import FeedMalformed, FetchRefused
from pipeline.feeds import canonical_url, fetch_feed, parse_feed
from pipeline.models import FeedSource
from pipeline.settings import FetchSettings

FETCH = FetchSettings(allow_private_addresses=True, timeout_seconds=5)


def poll(server, path: str, etag: str | None = None):  # type: ignore[no-untyped-def]
    source = FeedSource(path.split("/")[0], f"{server.base_url}/{path}")
    with web.make_client(FETCH.timeout_seconds, FETCH.user_agent) as client:
        return fetch_feed(client, source, FETCH, etag, None)


def entries(server, path: str):  # type: ignore[no-untyped-def]
    resp = poll(server, path)
    return parse_feed(resp.source, resp.body, resp.content_type, resp.final_url).entries


def test_every_outlet_feed_parses_with_dates_titles_and_links(corpus_server) -> None:  # type: ignore[no-untyped-def]
    counts = {name: len(entries(corpus_server, f"{name}/feed.xml")) for name in corpus_server.feed_urls()}
    assert counts == {"baltic-wire": 11, "eastern-flank-post": 10, "continental-herald": 11, "defense-desk": 11,
                      "nordic-times": 8, "world-brief": 12}
    for e in entries(corpus_server, "eastern-flank-post/feed.xml"):
        assert e.published_at is not None and e.published_at.tzinfo is not None
        assert e.url.startswith(corpus_server.base_url) and e.title


def test_an_unchanged_feed_answers_304_and_is_not_parsed_again(corpus_server) -> None:  # type: ignore[no-untyped-def]
    first = poll(corpus_server, "baltic-wire/feed.xml")
    again = poll(corpus_server, "baltic-wire/feed.xml", etag=first.etag)
    assert first.status == 200 and again.status == 304 and again.body is None


def test_latin1_feed_gives_the_same_entries_as_its_utf8_twin(corpus_server) -> None:  # type: ignore[no-untyped-def]
    utf8 = entries(corpus_server, "defense-desk/feed.xml")
    latin = entries(corpus_server, "defense-desk/feed-latin1.xml")
    assert [(e.entry_id, e.title) for e in utf8] == [(e.entry_id, e.title) for e in latin]


def test_an_undefined_entity_does_not_lose_items(corpus_server) -> None:  # type: ignore[no-untyped-def]
    resp = poll(corpus_server, "nordic-times/feed-bad.xml")
    parsed = parse_feed(resp.source, resp.body, resp.content_type)
    assert len(parsed.entries) == 8 and parsed.bozo_reason and "entity" in parsed.bozo_reason


def test_items_without_guid_are_identified_by_their_link(corpus_server) -> None:  # type: ignore[no-untyped-def]
    items = entries(corpus_server, "nordic-times/feed.xml")
    assert len({e.entry_id for e in items}) == len(items) == 8


def test_an_html_page_served_as_a_feed_is_malformed(corpus_server) -> None:  # type: ignore[no-untyped-def]
    source = FeedSource("x", corpus_server.base_url + "/x")
    with pytest.raises(FeedMalformed):
        parse_feed(source, b"<html><body><p>Not a feed</p></body></html>", "text/html")
    with pytest.raises(FeedMalformed, match="empty body"):
        parse_feed(source, b"", "application/xml")


def test_a_missing_feed_is_a_permanent_http_404(corpus_server) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(FetchRefused, match="http_404"):
        poll(corpus_server, "no-such-outlet/feed.xml")


def test_the_same_story_in_two_entries_is_kept_once() -> None:
    body = b"""<rss version="2.0"><channel><title>t</title>
    <item><title>A</title><link>https://ex.org/a?utm_source=x</link><guid>1</guid></item>
    <item><title>A again</title><link>https://EX.org/a#top</link><guid>2</guid></item></channel></rss>"""
    parsed = parse_feed(FeedSource("f", "https://ex.org/feed"), body, "application/rss+xml")
    assert len(parsed.entries) == 1
    assert canonical_url("https://EX.org:443/a?utm_source=x&id=3#frag") == "https://ex.org/a?id=3"

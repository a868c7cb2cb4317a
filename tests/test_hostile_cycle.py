"""One real `monitor_cycle` (Prefect, model, DuckDB) over a feed list where almost every feed and page is hostile:
the cycle completes, the good outlet is processed in full, and every failure is a row with a clear reason in
`v_feed_health` / `v_articles`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import warehouse.connection
import warehouse.queries
from pipeline.models import FeedSource
from tests.hostile_server import HostileServer, article_html, rss, static

pytestmark = pytest.mark.slow  # one cycle flow against the hostile server

FEEDS = {  # feed name -> (path, last_status expected in v_feed_health)
    "good": ("/good/feed.xml", "ok"),
    "pages": ("/pages.xml", "ok"),
    "entity": ("/entity.xml", "ok"),
    "enc-wrong": ("/enc/wrong.xml", "ok"),
    "enc-missing": ("/enc/missing.xml", "ok"),
    "laughs": ("/bomb/laughs.xml", None),
    "xxe": ("/bomb/xxe.xml", None),
    "many": ("/many.xml", "ok"),
    "dupes": ("/dupes.xml", "ok"),
    "dates": ("/dates.xml", "ok"),
    "titles": ("/titles.xml", "ok"),
    "illformed": ("/illformed/illformed/rss_incomplete_cdata.xml", None),
    "gzip-bomb": ("/bomb/gzip.xml", "too_large"),
    "huge": ("/huge.xml", "too_large"),
    "slow": ("/slow.xml", "timeout"),
    "slow-headers": ("/slow-headers.xml", "timeout"),
    "loop": ("/redirect/loop-a", "redirect_loop"),
    "to-file": ("/redirect/file", "bad_scheme"),
    "gone": ("/status/410", "http_410"),
    "missing": ("/status/404", "http_404"),
    "limited": ("/status/429", "http_429"),
    "down": ("/status/503", "http_503"),
    "error": ("/status/500", "http_500"),
    "garbage": ("/garbage.xml", "protocol_error"),
    "empty": ("/empty.xml", "malformed"),
    "html": ("/html.xml", "malformed"),
}
PAGES = {  # page path -> v_articles.status
    "/page-ok.html": "ok",
    "/status/404": "http_404",
    "/status/410": "http_410",
    "/status/503": "http_503",
    "/bomb/gzip-page.html": "too_large",
    "/garbage.xml": "protocol_error",
    "/redirect/loop-a": "redirect_loop",
    "/slow.xml": "timeout",
    "/empty.xml": "no_text",
    "/secret": "not_html",
}


@pytest.fixture(scope="module")
def cycle(tmp_path_factory: pytest.TempPathFactory, prefect_harness) -> Iterator[dict[str, Any]]:  # type: ignore[no-untyped-def]
    from flows.cycle import run_cycle
    from pipeline.settings import load_settings

    tmp = tmp_path_factory.mktemp("hostile-cycle")
    with HostileServer() as server:
        server.routes["/page-ok.html"] = static(article_html("A readable page"), content_type="text/html")
        server.routes["/pages.xml"] = static(rss([
            {"title": f"Page {p}", "link": server.url(p), "guid": p} for p in PAGES]))
        settings = load_settings([], environ={}, overrides={
            "warehouse": {"path": str(tmp / "nw.duckdb"), "busy_timeout_seconds": 5},
            "fetch": {"allow_private_addresses": True, "timeout_seconds": 3, "max_feed_bytes": 2_000_000,
                      "max_page_bytes": 1_000_000, "concurrency": 8, "per_host_concurrency": 8,
                      "max_entries_per_feed": 40},
            "extract": {"min_words": 20},
            "digest": {"out_dir": str(tmp / "out")},
            "feeds": [{"name": n, "url": server.url(p)} for n, (p, _) in FEEDS.items()],
        })
        report = run_cycle(settings)
        with warehouse.connection.open_warehouse(settings.warehouse.path, read_only=True) as con:
            _, health = warehouse.queries.query(con, "SELECT feed, last_status, consecutive_failures, last_error, items_total "
                                         "FROM v_feed_health")
            _, articles = warehouse.queries.query(con, "SELECT url, feed, title, status, reason FROM v_articles")
        yield {"report": report, "server": server, "settings": settings,
               "health": {r[0]: r[1:] for r in health}, "articles": articles}


def test_the_cycle_completes_and_the_good_outlet_is_processed(cycle: dict[str, Any]) -> None:
    report = cycle["report"]
    assert report.feeds_ok >= 10
    good = [a for a in cycle["articles"] if a[1] == "good"]
    assert len(good) == 3 and {a[3] for a in good} == {"ok"}


def test_every_failing_feed_is_recorded_with_a_clear_reason(cycle: dict[str, Any]) -> None:
    health = cycle["health"]
    for name, (_path, expected) in FEEDS.items():
        status, failures, error, _items = health[name]
        if expected is None:  # recovered or refused, depending on what the parser can salvage: either is fine
            assert status == "ok" or (status == "malformed" and error), (name, status, error)
            continue
        assert status == expected, (name, status, error)
        assert (failures == 0) == (expected == "ok"), name
        if expected != "ok":
            assert error and expected.split("_")[0] in error.lower() or expected == "malformed", (name, error)


def test_hostile_pages_are_articles_with_a_reason(cycle: dict[str, Any]) -> None:
    base = cycle["server"].base_url
    by_url = {a[0]: a for a in cycle["articles"] if a[1] == "pages"}
    for path, status in PAGES.items():
        row = by_url[base + path]
        assert row[3] == status, (path, row)
        assert row[4], path  # a reason is always stored


def test_big_and_odd_feeds_are_bounded_and_clean(cycle: dict[str, Any]) -> None:
    settings = cycle["settings"]
    health = cycle["health"]
    assert health["many"][3] == settings.fetch.max_entries_per_feed  # 10,000 items -> newest 500
    assert health["dupes"][3] == 2
    for url, _feed, title, _status, _reason in cycle["articles"]:
        assert "\r" not in title and "\n" not in title
    titles = {a[0]: a[2] for a in cycle["articles"]}
    base = cycle["server"].base_url
    assert "<script" not in titles[base + "/x/script"].lower()
    assert titles[base + "/x/sql?q=';DROP TABLE entries;--"] == "'; DROP TABLE articles; --"  # bound, inert


def test_no_request_left_the_allowed_paths(cycle: dict[str, Any]) -> None:
    assert cycle["server"].hits.get("/secret", 0) == 1  # fetched once, as a page link; never via an XML entity
    assert FeedSource  # keep import: the warehouse names feeds as configured

"""Failing feeds back off exponentially with jitter up to a cap, honour Retry-After, are retried forever, respect
the per-host limit, and show up in the digest once they have failed for `fetch.failing_alert_hours`.
The real poll task (`poll_feeds.fn`, no Prefect run, no model) against the hostile server and a real DuckDB file.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler

import pytest

import warehouse.connection
import warehouse.digest
import warehouse.feeds
import warehouse.queries
from flows.stages import poll_feeds
from pipeline.digest import feed_failing
from pipeline.retry import for_feeds
from pipeline.settings import FetchSettings, Settings
from tests.hostile_server import HostileServer


@pytest.fixture(scope="module")
def server() -> Iterator[HostileServer]:
    with HostileServer() as s:
        yield s


def feeds(server: HostileServer, **paths: str) -> list[dict[str, str]]:
    return [{"name": name, "url": server.url(path)} for name, path in paths.items()]


def health(settings: Settings) -> dict[str, dict]:  # type: ignore[type-arg]
    with warehouse.connection.open_warehouse(settings.warehouse.path, read_only=True) as con:
        cols, rows = warehouse.queries.query(con, "SELECT f.*, h.items_total FROM feeds f JOIN v_feed_health h ON h.feed = f.name")
    return {r[0]: dict(zip(cols, r)) for r in rows}


def _backoff(failures: int, base_minutes: float = 1.0, cap_minutes: float = 360.0) -> timedelta:
    policy = for_feeds(FetchSettings(backoff_base_minutes=base_minutes, backoff_max_minutes=cap_minutes))
    return policy.delay(failures)


def test_backoff_doubles_with_jitter_and_stops_at_the_cap() -> None:
    for failures in range(1, 60):
        expected = min(2 ** (failures - 1), 360)
        for _ in range(20):
            minutes = _backoff(failures).total_seconds() / 60
            assert 0.8 * expected - 1e-9 <= minutes <= min(1.2 * expected, 360) + 1e-9
    spread = {round(_backoff(3).total_seconds(), 3) for _ in range(50)}
    assert len(spread) > 10  # jittered, so failing feeds don't retry in lockstep
    assert _backoff(10_000, base_minutes=5, cap_minutes=60) <= timedelta(minutes=60)


def test_a_failing_feed_backs_off_and_is_retried_forever(server: HostileServer, make_settings) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(feeds=feeds(server, broken="/status/500", good="/good/feed.xml"),
                             fetch={"backoff_base_minutes": 0.002, "backoff_max_minutes": 0.01})
    waits = []
    for n in range(1, 8):
        poll_feeds.fn(settings)
        h = health(settings)
        assert h["broken"]["consecutive_failures"] == n and h["broken"]["last_status"] == "http_500"
        assert "http_500" in h["broken"]["last_error"]
        assert h["good"]["consecutive_failures"] == 0 and h["good"]["items_total"] == 3  # the other feed goes on
        wait = (h["broken"]["next_poll_at"] - h["broken"]["last_polled_at"]).total_seconds()
        waits.append(wait)
        time.sleep(wait + 0.01)
    assert waits[0] < waits[2] and max(waits) <= 0.6 + 1e-6  # grows, then held at the cap (0.01 min)
    assert server.hits["/status/500"] >= 7  # polled every time it was due: never dropped


def test_a_feed_is_not_polled_before_its_backoff_ends(server: HostileServer, make_settings) -> None:  # type: ignore[no-untyped-def]
    server.routes["/flaky.xml"] = server.routes["/status/500"]
    settings = make_settings(feeds=feeds(server, flaky="/flaky.xml"))
    poll_feeds.fn(settings)
    hits = server.hits["/flaky.xml"]
    poll_feeds.fn(settings)  # due again only in about a minute
    assert server.hits["/flaky.xml"] == hits
    assert health(settings)["flaky"]["consecutive_failures"] == 1


def test_a_recovered_feed_resets_its_failure_count(server: HostileServer, make_settings) -> None:  # type: ignore[no-untyped-def]
    server.routes["/recovering.xml"] = server.routes["/status/503"]
    # Retry-After (3 h) would hold it: the cap (here a few ms) wins over an unreasonable server
    settings = make_settings(feeds=feeds(server, rec="/recovering.xml"),
                             fetch={"backoff_base_minutes": 0.0001, "backoff_max_minutes": 0.0005})
    poll_feeds.fn(settings)
    assert health(settings)["rec"]["consecutive_failures"] == 1
    time.sleep(0.05)
    server.routes["/recovering.xml"] = server.routes["/good/feed.xml"]
    poll_feeds.fn(settings)
    h = health(settings)["rec"]
    assert (h["consecutive_failures"], h["last_status"], h["next_poll_at"]) == (0, "ok", None)
    assert h["last_success_at"] is not None and h["items_total"] == 3


@pytest.mark.parametrize("path, cap_minutes, expected_minutes", [
    ("/status/429", 360, 120),   # Retry-After: 7200 (seconds)
    ("/status/503", 360, 180),   # Retry-After: an HTTP date 3 hours ahead
    ("/status/429", 60, 60),     # never longer than the backoff cap
])
def test_retry_after_is_honoured_up_to_the_cap(server: HostileServer, make_settings, path: str,  # type: ignore[no-untyped-def]
                                               cap_minutes: float, expected_minutes: float) -> None:
    settings = make_settings(feeds=feeds(server, limited=path), fetch={"backoff_max_minutes": cap_minutes})
    poll_feeds.fn(settings)
    h = health(settings)["limited"]
    wait_minutes = (h["next_poll_at"] - h["last_polled_at"]).total_seconds() / 60
    assert expected_minutes - 2 <= wait_minutes <= expected_minutes + 0.01


def test_polling_respects_the_per_host_limit(server: HostileServer, make_settings) -> None:  # type: ignore[no-untyped-def]
    lock = threading.Lock()
    state = {"now": 0, "max": 0}
    body = server.routes["/good/feed.xml"]

    def slow(h: BaseHTTPRequestHandler) -> None:
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
        time.sleep(0.3)
        with lock:
            state["now"] -= 1
        body(h)

    for i in range(6):
        server.routes[f"/polite/{i}.xml"] = slow
    settings = make_settings(feeds=feeds(server, **{f"f{i}": f"/polite/{i}.xml" for i in range(6)}),
                             fetch={"concurrency": 6, "per_host_concurrency": 2})
    report = poll_feeds.fn(settings)
    assert report.feeds_ok == 6 and state["max"] == 2


def test_the_digest_lists_a_feed_only_after_failing_for_the_configured_time(make_settings) -> None:  # type: ignore[no-untyped-def]
    from pipeline.models import FeedSource

    settings = make_settings()
    t0 = datetime(2025, 9, 10, 6, tzinfo=UTC)
    day, start, end = date(2025, 9, 10), t0.replace(hour=0), t0.replace(hour=0) + timedelta(days=1)

    def listed(hours: float) -> set[str]:
        rows = warehouse.digest.read_digest_data(con, start, end, start)
        return {f.feed for f in rows.feeds if feed_failing(f, hours)}

    with warehouse.connection.open_warehouse(settings.warehouse.path) as con:
        warehouse.feeds.upsert_feeds(con, [FeedSource("brief", "http://a/"), FeedSource("long", "http://b/"),
                                 FeedSource("never", "http://c/"), FeedSource("fine", "http://d/")])
        for name in ("brief", "long", "fine"):
            warehouse.feeds.mark_feed_polled(con, name, polled_at=t0, status="ok", error=None, etag=None, last_modified=None,
                                   next_poll_at=None)
        warehouse.feeds.mark_feed_polled(con, "brief", polled_at=t0 + timedelta(hours=2), status="timeout", error="x",
                               etag=None, last_modified=None, next_poll_at=t0)
        warehouse.feeds.mark_feed_polled(con, "long", polled_at=t0 + timedelta(hours=7), status="http_500", error="x",
                               etag=None, last_modified=None, next_poll_at=t0)
        warehouse.feeds.mark_feed_polled(con, "never", polled_at=t0, status="malformed", error="x", etag=None,
                               last_modified=None, next_poll_at=t0)
        assert listed(6) == {"long", "never"}
        assert listed(0) == {"brief", "long", "never"}
    assert Settings().fetch.failing_alert_hours == 6.0

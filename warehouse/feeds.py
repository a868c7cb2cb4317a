"""Feeds: configured and added feeds (subscriptions), poll state and health, raw feed bodies, mutes."""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Sequence
from datetime import datetime

import duckdb

from pipeline.errors import WarehouseError
from pipeline.models import FeedPoll, FeedSource, FeedState, FeedSubscription
from warehouse.connection import arrow_rows, bulk_insert, first_line, transaction, utc
from warehouse.feedback import insert_feedback


def upsert_feeds(con: duckdb.DuckDBPyConnection, sources: Sequence[FeedSource]) -> None:
    """Register configured feeds (a changed URL resets the conditional-GET validators; a name given twice: the
    last URL)."""
    urls = {s.name: s.url for s in sources}
    bulk_insert(con, "feeds", {"name": list(urls), "url": list(urls.values())},
          "ON CONFLICT (name) DO UPDATE SET "
          "etag = CASE WHEN feeds.url = excluded.url THEN feeds.etag END, "
          "last_modified = CASE WHEN feeds.url = excluded.url THEN feeds.last_modified END, url = excluded.url")


def read_feed_states(con: duckdb.DuckDBPyConnection, names: Sequence[str]) -> list[FeedState]:
    # Keys go in as an Arrow table, never as a list parameter: duckdb binds a Python list element by element,
    # two failed optional imports apiece, which adds up to seconds for a few hundred feeds (PERFORMANCE.md).
    with arrow_rows(con, "_keys_feeds", {"k": list(names)}) as any_rows:
        if not any_rows:
            return []
        rows = con.execute(
            "SELECT name, url, etag, last_modified, consecutive_failures, next_poll_at FROM feeds "
            "WHERE name IN (SELECT k FROM _keys_feeds) ORDER BY name").fetchall()
    return [FeedState(r[0], r[1], r[2], r[3], int(r[4]), utc(r[5])) for r in rows]


def mark_feeds_polled(con: duckdb.DuckDBPyConnection, polls: Sequence[FeedPoll]) -> None:
    """Record poll outcomes, all feeds in one statement (a quiet cycle over hundreds of feeds stays cheap)."""
    with arrow_rows(con, "_rows_polls", {
        "name": [p.name for p in polls], "polled_at": [p.polled_at for p in polls],
        "status": [p.status for p in polls], "error": [p.error for p in polls],
        "ok": [p.status in ("ok", "not_modified") for p in polls], "etag": [p.etag for p in polls],
        "last_modified": [p.last_modified for p in polls], "next_poll_at": [p.next_poll_at for p in polls],
    }) as any_rows:
        if any_rows:
            con.execute(
                "UPDATE feeds SET last_polled_at = p.polled_at, last_status = p.status, last_error = p.error::VARCHAR, "
                "consecutive_failures = CASE WHEN p.ok THEN 0 ELSE feeds.consecutive_failures + 1 END, "
                "last_success_at = CASE WHEN p.ok THEN p.polled_at ELSE feeds.last_success_at END, "
                "etag = CASE WHEN p.ok THEN p.etag::VARCHAR ELSE feeds.etag END, "
                "last_modified = CASE WHEN p.ok THEN p.last_modified::VARCHAR ELSE feeds.last_modified END, "
                "next_poll_at = p.next_poll_at::TIMESTAMPTZ FROM _rows_polls p WHERE feeds.name = p.name")


def mark_feed_polled(
    con: duckdb.DuckDBPyConnection, name: str, *, polled_at: datetime, status: str, error: str | None,
    etag: str | None, last_modified: str | None, next_poll_at: datetime | None,
) -> None:
    """mark_feeds_polled for one feed."""
    mark_feeds_polled(con, [FeedPoll(name, polled_at, status, error, etag, last_modified, next_poll_at)])


def insert_feed_bodies(con: duckdb.DuckDBPyConnection, bodies: Sequence[tuple[str, bytes, str | None, datetime]]
                       ) -> None:
    """Keep raw feed bodies (feed, body, content type, fetched at), compressed, for replay; an identical body of a
    feed is stored once."""
    bulk_insert(con, "feed_bodies", {
        "feed": [b[0] for b in bodies], "sha256": [hashlib.sha256(b[1]).hexdigest() for b in bodies],
        "fetched_at": [b[3] for b in bodies], "content_type": [b[2] for b in bodies],
        "body_zlib": [zlib.compress(b[1], 6) for b in bodies],
    }, "ON CONFLICT DO NOTHING", casts={"content_type": "VARCHAR"})


def set_feed_muted(con: duckdb.DuckDBPyConnection, feed: str, muted: bool, *, reason: str | None, actor: str,
                   at: datetime) -> None:
    """A muted feed is not polled (its stored articles stay); unmute to resume."""
    if con.execute("SELECT 1 FROM feeds WHERE name = ?", [feed]).fetchone() is None:
        raise WarehouseError(f"no feed {feed!r} in this warehouse (see `newswatch sql \"select feed from v_feed_health\"`)")
    with transaction(con):
        con.execute("UPDATE feeds SET muted = ? WHERE name = ?", [muted, feed])
        insert_feedback(con, "mute" if muted else "unmute", None, feed, {}, reason, actor, at)


def muted_feeds(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {r[0] for r in con.execute("SELECT name FROM feeds WHERE muted").fetchall()}


def read_subscriptions(con: duckdb.DuckDBPyConnection) -> list[FeedSubscription]:
    """Feeds added with `newswatch feeds add` / `import-opml`, in the order they were added. A snapshot
    published before migration 0009 has none."""
    if not con.execute("SELECT 1 FROM duckdb_tables() WHERE table_name = 'feed_subscriptions'").fetchone():
        return []
    rows = con.execute("SELECT name, url, title, category, added_at, added_by FROM feed_subscriptions "
                       "ORDER BY added_at, name").fetchall()
    return [FeedSubscription(r[0], r[1], r[2], r[3], utc(r[4]), r[5]) for r in rows]  # type: ignore[arg-type]


def insert_subscriptions(con: duckdb.DuckDBPyConnection, subscriptions: Sequence[FeedSubscription]) -> None:
    """Add feeds (names and URLs checked unique by the caller; a clash raises WarehouseError), recorded in
    v_feedback, all or none."""
    try:
        with transaction(con):
            for s in subscriptions:
                con.execute("INSERT INTO feed_subscriptions (name, url, title, category, added_at, added_by) "
                            "VALUES (?, ?, ?, ?, ?, ?)", [s.name, s.url, s.title, s.category, s.added_at, s.added_by])
                insert_feedback(con, "feed_add", None, s.name, {"url": s.url, "title": s.title, "category": s.category},
                          None, s.added_by, s.added_at)
    except duckdb.ConstraintException as exc:
        raise WarehouseError(f"feed already added: {first_line(exc)}") from exc


def delete_subscription(con: duckdb.DuckDBPyConnection, name: str, *, reason: str | None, actor: str,
                        at: datetime) -> bool:
    """Stop polling an added feed (its stored articles and poll history stay). False: no such added feed."""
    with transaction(con):
        row = con.execute("DELETE FROM feed_subscriptions WHERE name = ? RETURNING url", [name]).fetchone()
        if row is None:
            return False
        insert_feedback(con, "feed_remove", None, name, {"url": row[0]}, reason, actor, at)
    return True


def read_feed_health(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[object, ...]]:
    """feed name -> (muted, last_status, consecutive_failures, last_polled_at, items_total) of every feed
    ever polled."""
    rows = con.execute("SELECT h.feed, coalesce(f.muted, false), h.last_status, h.consecutive_failures, "
                       "h.last_polled_at, h.items_total FROM v_feed_health h JOIN feeds f ON f.name = h.feed"
                       ).fetchall()
    return {r[0]: tuple(r[1:]) for r in rows}

"""The warehouse rows a daily digest is built from (publication time windows)."""

from __future__ import annotations

from datetime import datetime

import duckdb

from pipeline.digest import DigestArticle, DigestRows, FeedRow, IncidentRow
from warehouse.connection import utc
from warehouse.cycles import read_first_cycle_at

_DAY_INCIDENTS = (  # incidents (not dismissed or merged) with an article published in [?, ?)
    "SELECT i.incident_id FROM incidents i WHERE i.status NOT IN ('dismissed', 'merged') AND EXISTS ("
    " SELECT 1 FROM incident_articles ia JOIN articles a USING (article_id) "
    " WHERE ia.incident_id = i.incident_id AND a.published_at >= ? AND a.published_at < ?)")


def read_digest_data(con: duckdb.DuckDBPyConnection, start: datetime, end: datetime, activity_start: datetime
                     ) -> DigestRows:
    """The warehouse rows of the digest of the day [start, end) (publication time) as pipeline DigestRows:
    incidents with an article of the day and their articles published before `end` (the day's with their
    text), the day's relevant articles in no incident, every feed (its poll state, muted, items of the day,
    newest item before `end`), the relevant articles of
    [activity_start, end) with their country, the day's counts and the first cycle's time."""
    incidents = con.execute(
        "SELECT incident_id, title, country, intruder, first_seen_at, first_article_id FROM incidents "
        f"WHERE incident_id IN ({_DAY_INCIDENTS})", [start, end]).fetchall()
    members = con.execute(
        "SELECT a.article_id, ia.incident_id, a.title, a.url, a.feed, a.published_at, "
        " CASE WHEN a.published_at >= ? OR a.article_id = i.first_article_id THEN left(a.text, 3000) ELSE '' END "
        "FROM incident_articles ia JOIN articles a USING (article_id) JOIN incidents i USING (incident_id) "
        f"WHERE ia.incident_id IN ({_DAY_INCIDENTS}) AND a.published_at < ?", [start, start, end, end]).fetchall()
    others = con.execute(
        "SELECT a.article_id, NULL, a.title, a.url, a.feed, a.published_at FROM articles a "
        "JOIN judgements j USING (article_id) LEFT JOIN incident_articles ia USING (article_id) "
        "WHERE j.relevant AND ia.incident_id IS NULL AND a.published_at >= ? AND a.published_at < ?",
        [start, end]).fetchall()
    feeds = con.execute(
        "WITH items AS (SELECT feed, coalesce(published_at, first_seen_at) AS item_at FROM entries), "
        "per_feed AS (SELECT feed, count(*) FILTER (WHERE item_at >= ? AND item_at < ?) AS today, "
        "                    max(item_at) FILTER (WHERE item_at < ?) AS newest FROM items GROUP BY feed) "
        "SELECT f.name, f.url, f.last_status, f.consecutive_failures, f.last_error, f.last_polled_at, "
        " f.last_success_at, coalesce(f.muted, false), coalesce(p.today, 0), p.newest "
        "FROM feeds f LEFT JOIN per_feed p ON p.feed = f.name ORDER BY f.name",
        [start, end, end]).fetchall()
    activity = con.execute(
        "SELECT a.published_at, coalesce(i.country, j.country) FROM articles a JOIN judgements j USING (article_id) "
        "LEFT JOIN incident_articles ia USING (article_id) LEFT JOIN incidents i ON i.incident_id = ia.incident_id "
        "WHERE j.relevant AND coalesce(i.status, 'open') <> 'dismissed' "
        "AND a.published_at >= ? AND a.published_at < ?", [activity_start, end]).fetchall()
    counts = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE j.relevant) FROM articles a LEFT JOIN judgements j USING (article_id) "
        "WHERE a.published_at >= ? AND a.published_at < ?", [start, end],
    ).fetchone()

    def article(r: tuple[object, ...]) -> DigestArticle:
        return DigestArticle(r[0], r[1], r[2], r[3], r[4], utc(r[5]), r[6] if len(r) > 6 else "")  # type: ignore[arg-type]

    return DigestRows(
        incidents=tuple(IncidentRow(r[0], r[1], r[2], r[3], utc(r[4]), r[5]) for r in incidents),  # type: ignore[arg-type]
        members=tuple(article(r) for r in members),
        other_articles=tuple(article(r) for r in others),
        feeds=tuple(FeedRow(r[0], r[1], r[2], int(r[3]), r[4], utc(r[5]), utc(r[6]), bool(r[7]), int(r[8]),
                            utc(r[9])) for r in feeds),
        activity=tuple((utc(r[0]), r[1]) for r in activity),  # type: ignore[misc]
        articles_seen=int(counts[0]) if counts else 0, relevant_articles=int(counts[1] or 0) if counts else 0,
        first_cycle_at=read_first_cycle_at(con),
    )

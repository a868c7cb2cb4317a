"""The outbox: alerts and digests waiting for delivery, their channels, claim/lease/release and the one
mark per table.

Rows move pending -> sent, or pending -> pending (retry at next_attempt_at) -> ... -> failed. A claim pushes
next_attempt_at forward by a lease, so a second deliverer skips rows being sent and a crashed one's rows come
back after the lease (sent again with the same idempotency key / Message-ID)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

import duckdb

from pipeline.alerts import AlertSources, SourceRef
from pipeline.models import Alert, IncidentRecord, stable_id
from pipeline.outbox import IncidentFacts, OutboxAlert, OutboxDigest
from warehouse.connection import arrow_rows, execute_many, transaction, utc


def alert_id(incident_id: str, channel: str) -> str:
    return stable_id("alert", incident_id, channel)


def insert_alerts(con: duckdb.DuckDBPyConnection, incident_ids: Sequence[str], channel: str, created_at: datetime) -> int:
    """One pending alert per (incident, channel); an incident already alerted on that channel is left alone."""
    before = con.execute("SELECT count(*) FROM alerts").fetchone()[0]  # type: ignore[index]
    execute_many(
        con,
        "INSERT INTO alerts (alert_id, incident_id, article_id, channel, status, created_at) "
        "SELECT ?, incident_id, first_article_id, ?, 'pending', ? FROM incidents WHERE incident_id = ? "
        "ON CONFLICT DO NOTHING",
        [[alert_id(i, channel), channel, created_at, i] for i in incident_ids],
    )
    return int(con.execute("SELECT count(*) FROM alerts").fetchone()[0] - before)  # type: ignore[index]


def register_channels(con: duckdb.DuckDBPyConnection, channels: Sequence[tuple[str, str]], at: datetime) -> list[str]:
    """Remember when each (name, type) channel was first configured; returns the names new to this warehouse."""
    known = {r[0] for r in con.execute("SELECT name FROM channels").fetchall()}
    new = [(n, t) for n, t in channels if n not in known]
    execute_many(con, "INSERT INTO channels (name, type, registered_at) "
                      "VALUES (?, ?, ?) ON CONFLICT DO NOTHING", [(n, t, at) for n, t in new])
    return [n for n, _ in new]


def unalerted_incidents(con: duckdb.DuckDBPyConnection, channel: str) -> list[IncidentRecord]:
    rows = con.execute(
        "SELECT incident_id, title, first_article_id, first_seen_at, country, intruder FROM incidents i "
        "WHERE i.status = 'open' "
        "AND i.created_at >= coalesce((SELECT registered_at FROM channels WHERE name = ?), TIMESTAMPTZ '1970-01-01') "
        "AND NOT EXISTS (SELECT 1 FROM alerts a WHERE a.incident_id = i.incident_id AND a.channel = ?) "
        "ORDER BY first_seen_at, incident_id", [channel, channel],
    ).fetchall()
    return [IncidentRecord(r[0], r[1], r[2], utc(r[3]), r[4], r[5]) for r in rows]  # type: ignore[arg-type]


def read_alerts(con: duckdb.DuckDBPyConnection, *, status: str | None = None, channel: str | None = None) -> list[Alert]:
    rows = con.execute(
        "SELECT al.alert_id, al.incident_id, al.article_id, al.channel, al.status, al.created_at, i.title, i.country, "
        "i.intruder, a.url, a.title, a.feed, a.published_at FROM alerts al "
        "JOIN incidents i USING (incident_id) JOIN articles a ON a.article_id = al.article_id "
        "WHERE (? IS NULL OR al.status = ?) AND (? IS NULL OR al.channel = ?) "
        "ORDER BY a.published_at, al.alert_id", [status, status, channel, channel],
    ).fetchall()
    return [Alert(r[0], r[1], r[2], r[3], r[4], utc(r[5]), r[6], r[7], r[8], r[9], r[10], r[11], utc(r[12]))  # type: ignore[arg-type]
            for r in rows]


def read_incident_facts(con: duckdb.DuckDBPyConnection, incident_ids: Sequence[str]) -> list[IncidentFacts]:
    """IncidentFacts (country, intruder, distinct feeds so far) of the given incidents, for channel filters."""
    if not incident_ids:
        return []
    with arrow_rows(con, "_keys_incidents", {"k": list(incident_ids)}):  # see feeds.read_feed_states
        rows = con.execute(
            "SELECT i.incident_id, i.country, i.intruder, count(DISTINCT a.feed) FROM incidents i "
            "LEFT JOIN incident_articles ia ON ia.incident_id = i.incident_id "
            "LEFT JOIN articles a ON a.article_id = ia.article_id "
            "WHERE i.incident_id IN (SELECT k FROM _keys_incidents) GROUP BY ALL ORDER BY i.incident_id").fetchall()
    return [IncidentFacts(r[0], r[1], r[2], max(int(r[3]), 1)) for r in rows]


def _alert_sources(con: duckdb.DuckDBPyConnection, alerts: Sequence[Alert]) -> list[AlertSources]:
    """Each alert with its first report's text and the incident's other articles (publication order); which
    of them its message lists is pipeline.alerts.alert_detail's choice."""
    out = []
    for al in alerts:
        text_row = con.execute("SELECT text FROM articles WHERE article_id = ?", [al.article_id]).fetchone()
        rows = con.execute(
            "SELECT a.feed, a.title, a.url, a.published_at FROM incident_articles ia "
            "JOIN articles a USING (article_id) WHERE ia.incident_id = ? AND a.article_id <> ? "
            "ORDER BY a.published_at, a.article_id", [al.incident_id, al.article_id],
        ).fetchall()
        others = tuple(SourceRef(r[0], r[1], r[2], utc(r[3])) for r in rows)  # type: ignore[arg-type]
        out.append(AlertSources(al, text_row[0] if text_row else "", others))
    return out


def read_alert_sources(con: duckdb.DuckDBPyConnection, *, channel: str | None = None) -> list[AlertSources]:
    """What the message of every alert (of `channel`) is made of as of now, oldest first."""
    return _alert_sources(con, read_alerts(con, channel=channel))


def claim_due_alerts(con: duckdb.DuckDBPyConnection, channel: str, now: datetime, lease_until: datetime,
                     limit: int = 500) -> list[OutboxAlert]:
    """Pending alerts of `channel` due at `now` (next_attempt_at NULL or past), oldest incident first, as
    OutboxAlert; their next_attempt_at is set to `lease_until` in the same transaction."""
    with transaction(con):
        rows = con.execute(
            "SELECT alert_id, attempts FROM alerts WHERE channel = ? AND status = 'pending' "
            "AND (next_attempt_at IS NULL OR next_attempt_at <= ?) ORDER BY created_at, alert_id LIMIT ?",
            [channel, now, limit],
        ).fetchall()
        attempts = {r[0]: int(r[1]) for r in rows}
        execute_many(con, "UPDATE alerts SET next_attempt_at = ? WHERE alert_id = ?", [[lease_until, a] for a in attempts])
    alerts = [a for a in read_alerts(con, status="pending", channel=channel) if a.alert_id in attempts]
    return [OutboxAlert(s, attempts[s.alert.alert_id]) for s in _alert_sources(con, alerts)]


_OUTBOX_KEYS = {"alerts": "alert_id", "digests": "digest_id"}  # outbox tables and their idempotency keys


def _mark_delivery(con: duckdb.DuckDBPyConnection, outbox: str, row_id: str, *, status: str, at: datetime,
                   error: str | None, next_attempt_at: datetime | None) -> None:
    key = _OUTBOX_KEYS[outbox]
    con.execute(
        f"UPDATE {outbox} SET status = ?, attempts = attempts + 1, last_error = ?, next_attempt_at = ?, "
        f"sent_at = CASE WHEN ? = 'sent' THEN ? ELSE sent_at END WHERE {key} = ?",
        [status, error, next_attempt_at, status, at, row_id],
    )


def _release(con: duckdb.DuckDBPyConnection, outbox: str, row_ids: Sequence[str], next_attempt_at: datetime | None,
             note: str) -> None:
    key = _OUTBOX_KEYS[outbox]
    execute_many(con, f"UPDATE {outbox} SET next_attempt_at = ?, last_error = ? WHERE {key} = ? AND status = 'pending'",
                 [[next_attempt_at, note, r] for r in row_ids])


def mark_alert_delivery(con: duckdb.DuckDBPyConnection, alert_id_: str, *, status: str, at: datetime,
                        error: str | None = None, next_attempt_at: datetime | None = None) -> None:
    """Record one delivery attempt of an alert, on any channel (the log channel's in the cycle, the others' after
    a claim): status 'sent' | 'pending' (retry at next_attempt_at) | 'failed'."""
    _mark_delivery(con, "alerts", alert_id_, status=status, at=at, error=error, next_attempt_at=next_attempt_at)


def release_alerts(con: duckdb.DuckDBPyConnection, alert_ids: Sequence[str], next_attempt_at: datetime | None,
                   note: str) -> None:
    """Give claimed alerts back without counting an attempt (their channel failed on an earlier row)."""
    _release(con, "alerts", alert_ids, next_attempt_at, note)


def insert_digest(con: duckdb.DuckDBPyConnection, digest: OutboxDigest, created_at: datetime) -> bool:
    """Queue an OutboxDigest (status pending). False when (day, channel) already has a row: never twice."""
    before = con.execute("SELECT count(*) FROM digests").fetchone()[0]  # type: ignore[index]
    con.execute(
        "INSERT INTO digests (digest_id, day, channel, message_id, status, attempts, subject, body_text, body_html, "
        "payload_json, created_at) VALUES (?, ?, ?, ?, 'pending', 0, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        [digest.digest_id, digest.day, digest.channel, digest.message_id, digest.subject, digest.body_text,
         digest.body_html, digest.payload_json, created_at],
    )
    return bool(con.execute("SELECT count(*) FROM digests").fetchone()[0] > before)  # type: ignore[index]


def read_digest_status(con: duckdb.DuckDBPyConnection, day: date, channel: str
                       ) -> tuple[str, int, str | None] | None:
    """(status, attempts, last_error) of the digest of `day` on `channel`, None when never queued."""
    row = con.execute("SELECT status, attempts, last_error FROM digests WHERE day = ? AND channel = ?",
                      [day, channel]).fetchone()
    return (row[0], int(row[1]), row[2]) if row else None


def requeue_failed_digest(con: duckdb.DuckDBPyConnection, day: date, channel: str) -> bool:
    """A failed digest becomes pending again (attempts reset); a sent one is never touched."""
    before = con.execute("SELECT count(*) FROM digests WHERE status = 'pending'").fetchone()[0]  # type: ignore[index]
    con.execute("UPDATE digests SET status = 'pending', attempts = 0, next_attempt_at = NULL "
                "WHERE day = ? AND channel = ? AND status = 'failed'", [day, channel])
    return bool(con.execute("SELECT count(*) FROM digests WHERE status = 'pending'").fetchone()[0] > before)  # type: ignore[index]


def claim_due_digests(con: duckdb.DuckDBPyConnection, channel: str, now: datetime, lease_until: datetime
                      ) -> list[OutboxDigest]:
    """Pending digests of `channel` due at `now`, oldest day first, as OutboxDigest (leased like alerts)."""
    with transaction(con):
        rows = con.execute(
            "SELECT digest_id, day, channel, message_id, subject, body_text, body_html, payload_json, attempts "
            "FROM digests WHERE channel = ? AND status = 'pending' "
            "AND (next_attempt_at IS NULL OR next_attempt_at <= ?) ORDER BY day, digest_id", [channel, now],
        ).fetchall()
        execute_many(con, "UPDATE digests SET next_attempt_at = ? WHERE digest_id = ?", [[lease_until, r[0]] for r in rows])
    return [OutboxDigest(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], int(r[8])) for r in rows]


def mark_digest_delivery(con: duckdb.DuckDBPyConnection, digest_id_: str, *, status: str, at: datetime,
                         error: str | None, next_attempt_at: datetime | None) -> None:
    """Record one digest delivery attempt (see mark_alert_delivery)."""
    _mark_delivery(con, "digests", digest_id_, status=status, at=at, error=error, next_attempt_at=next_attempt_at)


def release_digests(con: duckdb.DuckDBPyConnection, digest_ids: Sequence[str], next_attempt_at: datetime | None,
                    note: str) -> None:
    """Give claimed digests back without counting an attempt."""
    _release(con, "digests", digest_ids, next_attempt_at, note)

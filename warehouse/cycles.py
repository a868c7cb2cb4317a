"""Monitor cycles and the service's state: cycle records, backlogs, feed health and outbox backlog for
`newswatch status`."""

from __future__ import annotations

import dataclasses
from datetime import datetime

import duckdb

from pipeline.health import CycleRecord, FeedHealth, OutboxBacklog
from warehouse.connection import utc


def has_pending_ingest(con: duckdb.DuckDBPyConnection, now: datetime, model: str) -> bool:
    """Whether any entry waits to be fetched (new, or a retry now due), any article for a `model` vector or a
    judgement, or any relevant article for an incident: one query, so a quiet cycle can skip those stages."""
    row = con.execute(
        "SELECT EXISTS (SELECT 1 FROM entries e LEFT JOIN articles a ON a.article_id = e.entry_id "
        "               WHERE a.article_id IS NULL OR (a.retry_at IS NOT NULL AND a.retry_at <= ?)) "
        "OR EXISTS (SELECT 1 FROM articles a WHERE a.retry_at IS NULL AND NOT EXISTS "
        "           (SELECT 1 FROM embeddings e WHERE e.article_id = a.article_id AND e.model = ?)) "
        "OR EXISTS (SELECT 1 FROM embeddings e WHERE e.model = ? AND NOT EXISTS "
        "           (SELECT 1 FROM judgements j WHERE j.article_id = e.article_id)) "
        "OR EXISTS (SELECT 1 FROM judgements j WHERE j.relevant AND NOT EXISTS "
        "           (SELECT 1 FROM incident_articles ia WHERE ia.article_id = j.article_id))",
        [now, model, model]).fetchone()
    return bool(row and row[0])


_CYCLE_COLS = [f.name for f in dataclasses.fields(CycleRecord)]


def insert_cycle(con: duckdb.DuckDBPyConnection, record: CycleRecord) -> None:
    """Record one monitor cycle (keyed on its id: a cycle recorded again, failing after it was recorded, keeps
    the later record)."""
    updates = ", ".join(f"{c} = excluded.{c}" for c in _CYCLE_COLS if c != "cycle_id")
    con.execute(f"INSERT INTO cycles ({', '.join(_CYCLE_COLS)}) VALUES ({', '.join('?' * len(_CYCLE_COLS))}) "
                f"ON CONFLICT (cycle_id) DO UPDATE SET {updates}",
                [utc(v) if isinstance(v, datetime) else v for v in dataclasses.astuple(record)])


def read_last_cycle(con: duckdb.DuckDBPyConnection) -> CycleRecord | None:
    """The newest cycle; None when none is recorded (or a read-only file predates the `cycles` table)."""
    try:
        row = con.execute(f"SELECT {', '.join(_CYCLE_COLS)} FROM cycles ORDER BY started_at DESC LIMIT 1").fetchone()
    except duckdb.CatalogException:
        return None
    if row is None:
        return None
    return CycleRecord(*[utc(v) if isinstance(v, datetime) else v for v in row])


def read_first_cycle_at(con: duckdb.DuckDBPyConnection) -> datetime | None:
    """When the first cycle ran: the earliest channel registration (each cycle registers its channels before it
    polls; channels carried over from before 0005 count from 1970 and are left out) or first seen entry."""
    row = con.execute(
        "SELECT least((SELECT min(registered_at) FROM channels "
        "              WHERE registered_at > TIMESTAMPTZ '1970-01-01 00:00:00+00'), "
        "             (SELECT min(first_seen_at) FROM entries))").fetchone()
    return utc(row[0]) if row else None


def read_health_of_feeds(con: duckdb.DuckDBPyConnection) -> list[FeedHealth]:
    """Every feed the warehouse knows, by name."""
    rows = con.execute("SELECT name, muted, consecutive_failures, last_status, last_error, last_success_at, "
                       "next_poll_at FROM feeds ORDER BY name").fetchall()
    return [FeedHealth(r[0], bool(r[1]), int(r[2] or 0), r[3], r[4], utc(r[5]), utc(r[6])) for r in rows]


def read_outbox_backlog(con: duckdb.DuckDBPyConnection) -> OutboxBacklog:
    """Alerts and digests waiting for delivery, the oldest pending alert, alerts given up on."""
    a = con.execute("SELECT count(*) FILTER (WHERE status = 'pending'), min(created_at) FILTER (WHERE status = "
                    "'pending'), count(*) FILTER (WHERE status = 'failed') FROM alerts").fetchone()
    d = con.execute("SELECT count(*) FROM digests WHERE status = 'pending'").fetchone()
    assert a is not None and d is not None
    return OutboxBacklog(int(a[0]), utc(a[1]), int(a[2]), int(d[0]))


def count_backlog(con: duckdb.DuckDBPyConnection, model: str) -> tuple[int, int]:
    """(articles waiting for a `model` vector, embedded articles waiting for a judgement): progress totals."""
    row = con.execute(
        "SELECT (SELECT count(*) FROM articles a ANTI JOIN (SELECT article_id FROM embeddings WHERE model = ?) e "
        "        ON e.article_id = a.article_id WHERE a.retry_at IS NULL), "
        "       (SELECT count(*) FROM embeddings e ANTI JOIN judgements j ON j.article_id = e.article_id "
        "        WHERE e.model = ?)", [model, model]).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])

"""Incidents: assignments of articles to incidents, incident members and document frequencies, and the
analysts' corrections (dismiss, merge, split, known incidents)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

import duckdb
import numpy as np

from pipeline.errors import WarehouseError
from pipeline.incidents import Member
from pipeline.models import AssignmentRecord, IncidentRecord, Judgement, StoredArticle, stable_id
from warehouse.articles import ARTICLE_COLUMNS, stored_article
from warehouse.connection import bulk_insert, transaction, utc
from warehouse.feedback import insert_feedback


def pending_assignments(con: duckdb.DuckDBPyConnection, model: str) -> list[tuple[StoredArticle, np.ndarray, Judgement]]:
    """Relevant articles not yet in an incident, in publication order, with vector and judgement."""
    rows = con.execute(
        f"SELECT {ARTICLE_COLUMNS}, e.vector, j.relevant, j.score, j.reason, j.report, j.country, j.intruder, "
        "j.event_day, j.analysis "
        "FROM articles a JOIN embeddings e USING (article_id) JOIN judgements j USING (article_id) "
        "ANTI JOIN incident_articles ia ON ia.article_id = a.article_id "
        "WHERE j.relevant AND e.model = ? ORDER BY a.published_at, a.article_id", [model],
    ).fetchall()
    return [
        (stored_article(r), np.asarray(r[8], dtype=np.float32), Judgement(r[0], *r[9:17]))
        for r in rows
    ]


def read_members(con: duckdb.DuckDBPyConnection, since: datetime, model: str, *, assigned_since: datetime | None = None
                 ) -> list[Member]:
    """Assigned articles published at or after `since` (and, with `assigned_since`, assigned at or after it: what
    a kept index lacks), with the state and day their judgement found, in publication order."""
    rows = con.execute(
        "SELECT ia.article_id, ia.incident_id, a.published_at, e.vector, ia.terms_json, a.lang, j.country, "
        "j.event_day FROM incident_articles ia "
        "JOIN articles a USING (article_id) JOIN embeddings e USING (article_id) "
        "LEFT JOIN judgements j USING (article_id) "
        "WHERE a.published_at >= ? AND e.model = ? AND ia.incident_id IS NOT NULL "
        "AND (?::TIMESTAMPTZ IS NULL OR ia.assigned_at >= ?::TIMESTAMPTZ) ORDER BY a.published_at, ia.article_id",
        [since, model, assigned_since, assigned_since],
    ).fetchall()
    return [Member(r[0], r[1], utc(r[2]), np.asarray(r[3], dtype=np.float32), json.loads(r[4]),  # type: ignore[arg-type]
                   r[5], r[6], r[7]) for r in rows]


def assignment_fingerprint(con: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    """(analyst corrections, assigned articles): changes whenever anything but a new assignment touches who is in
    which incident (merge, split, a known incident, a restored file), so a kept index knows it is stale."""
    row = con.execute("SELECT (SELECT count(*) FROM feedback), (SELECT count(*) FROM incident_articles)").fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def read_doc_freq(con: duckdb.DuckDBPyConnection) -> tuple[int, list[tuple[str, int]]]:
    row = con.execute("SELECT value FROM counters WHERE name = 'term_docs'").fetchone()
    rows = con.execute("SELECT term, df FROM term_stats").fetchall()
    return (int(row[0]) if row else 0), [(str(t), int(d)) for t, d in rows]


def save_assignments(
    con: duckdb.DuckDBPyConnection, incidents: Sequence[IncidentRecord], assignments: Sequence[AssignmentRecord],
    doc_freq: tuple[int, Sequence[tuple[str, int]]], assigned_at: datetime,
) -> None:
    """Write new incidents, article assignments and the document frequencies that changed (term, new df) in one
    transaction."""
    n_docs, df_rows = doc_freq
    with transaction(con):
        bulk_insert(con, "incidents", {
            "incident_id": [i.incident_id for i in incidents], "title": [i.title for i in incidents],
            "first_article_id": [i.first_article_id for i in incidents],
            "first_seen_at": [i.first_seen_at for i in incidents], "country": [i.country for i in incidents],
            "intruder": [i.intruder for i in incidents], "created_at": [assigned_at] * len(incidents),
        }, "ON CONFLICT (incident_id) DO NOTHING")
        bulk_insert(con, "incident_articles", {
            "article_id": [a.article_id for a in assignments], "incident_id": [a.incident_id for a in assignments],
            "score": [float(a.score) for a in assignments],
            "nearest_article_id": [a.nearest_article_id for a in assignments],
            "opened": [a.opened for a in assignments], "terms_json": [json.dumps(a.terms) for a in assignments],
            "assigned_at": [assigned_at] * len(assignments),
        }, "ON CONFLICT (article_id) DO NOTHING", casts={"incident_id": "VARCHAR", "nearest_article_id": "VARCHAR"})
        bulk_insert(con, "term_stats", {"term": [t for t, _ in df_rows], "df": [int(d) for _, d in df_rows]},
              "ON CONFLICT (term) DO UPDATE SET df = excluded.df", casts={"df": "INTEGER"})
        con.execute(
            "INSERT INTO counters (name, value) "
            "VALUES ('term_docs', ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            [n_docs],
        )


def _incident_status(con: duckdb.DuckDBPyConnection, incident_id: str) -> str:
    row = con.execute("SELECT status FROM incidents WHERE incident_id = ?", [incident_id]).fetchone()
    if row is None:
        raise WarehouseError(f"no incident {incident_id!r} (see `newswatch incidents`)")
    return str(row[0])


def dismiss_incident(con: duckdb.DuckDBPyConnection, incident_id: str, *, reason: str, actor: str, at: datetime) -> int:
    """Mark an incident dismissed: no alert from now on (pending ones are cancelled), not in digests; its
    later articles still join it. Returns the number of pending alerts cancelled."""
    _incident_status(con, incident_id)
    with transaction(con):
        con.execute("UPDATE incidents SET status = 'dismissed' WHERE incident_id = ?", [incident_id])
        cancelled = con.execute(
            "UPDATE alerts SET status = 'cancelled', last_error = 'incident dismissed by an analyst' "
            "WHERE incident_id = ? AND status = 'pending' RETURNING alert_id", [incident_id]).fetchall()
        insert_feedback(con, "dismiss", incident_id, None, {"cancelled_alerts": len(cancelled)}, reason, actor, at)
    return len(cancelled)


def merge_incidents(con: duckdb.DuckDBPyConnection, keep: str, fold: str, *, reason: str | None, actor: str,
                    at: datetime) -> int:
    """Fold incident `fold` into `keep`: its articles move, it disappears from v_incidents. Returns articles moved."""
    if keep == fold:
        raise WarehouseError("cannot merge an incident into itself")
    for incident in (keep, fold):
        if _incident_status(con, incident) == "merged":
            raise WarehouseError(f"incident {incident} was already merged")
    with transaction(con):
        moved = con.execute("UPDATE incident_articles SET incident_id = ? WHERE incident_id = ? RETURNING article_id",
                            [keep, fold]).fetchall()
        con.execute("UPDATE incidents SET status = 'merged', merged_into = ? WHERE incident_id = ?", [keep, fold])
        con.execute("UPDATE incidents SET first_seen_at = least(first_seen_at, "
                    "(SELECT first_seen_at FROM incidents WHERE incident_id = ?)) WHERE incident_id = ?", [fold, keep])
        con.execute("UPDATE alerts SET status = 'cancelled', last_error = 'incident merged by an analyst' "
                    "WHERE incident_id = ? AND status = 'pending'", [fold])
        insert_feedback(con, "merge", keep, fold, {"articles": [r[0] for r in moved]}, reason, actor, at)
    return len(moved)


def split_incident(con: duckdb.DuckDBPyConnection, incident_id: str, article_urls: Sequence[str], *,
                   reason: str | None, actor: str, at: datetime) -> str:
    """Move the given articles of `incident_id` into a new incident (status 'known': the analyst already knows
    it, so it never alerts). Returns the new incident id."""
    _incident_status(con, incident_id)
    rows = con.execute(
        "SELECT a.article_id, a.url, a.title, a.published_at, j.country, j.intruder FROM incident_articles ia "
        "JOIN articles a USING (article_id) LEFT JOIN judgements j USING (article_id) "
        "WHERE ia.incident_id = ? AND list_contains(?, a.url) ORDER BY a.published_at, a.article_id",
        [incident_id, list(article_urls)]).fetchall()
    found = {r[1] for r in rows}
    missing = [u for u in article_urls if u not in found]
    if missing:
        raise WarehouseError(f"not articles of incident {incident_id}: {', '.join(missing)}")
    remaining = con.execute("SELECT count(*) FROM incident_articles WHERE incident_id = ?", [incident_id]).fetchone()
    if remaining and int(remaining[0]) == len(rows):
        raise WarehouseError("a split must leave at least one article in the original incident")
    first = rows[0]
    new_id = "inc-" + stable_id("split", incident_id, *sorted(found))[:12]
    with transaction(con):
        con.execute("INSERT INTO incidents (incident_id, title, first_article_id, first_seen_at, country, intruder, "
                    "created_at, status) VALUES (?, ?, ?, ?, ?, ?, ?, 'known') ON CONFLICT DO NOTHING",
                    [new_id, first[2], first[0], first[3], first[4], first[5], at])
        con.execute("UPDATE incident_articles SET incident_id = ?, opened = (article_id = ?) "
                    "WHERE list_contains(?, article_id)", [new_id, first[0], [r[0] for r in rows]])
        old_first = con.execute(
            "SELECT a.article_id, a.title, a.published_at FROM incident_articles ia JOIN articles a USING (article_id) "
            "WHERE ia.incident_id = ? ORDER BY a.published_at, a.article_id LIMIT 1", [incident_id]).fetchone()
        if old_first:
            con.execute("UPDATE incidents SET first_article_id = ?, first_seen_at = ? WHERE incident_id = ?",
                        [old_first[0], old_first[2], incident_id])
        insert_feedback(con, "split", incident_id, new_id, {"articles": [r[0] for r in rows]}, reason, actor, at)
    return new_id


def add_known_incident(con: duckdb.DuckDBPyConnection, *, title: str, description: str, when: datetime,
                       country: str | None, intruder: str | None, model: str, vector: np.ndarray,
                       terms: dict[str, int], reason: str | None, actor: str, at: datetime) -> str:
    """Register an incident the desk already knows, with a description article (feed '_analyst') that later
    reports are matched against: they join it and never alert. Returns the incident id."""
    incident_id = "inc-" + stable_id("known", title, when.isoformat())[:12]
    article_id = "analyst-" + incident_id[4:]
    with transaction(con):
        con.execute("INSERT INTO articles (article_id, url, feed, title, published_at, lang, status, reason, text, "
                    "extracted_at) VALUES (?, ?, '_analyst', ?, ?, NULL, 'analyst', 'registered by an analyst', "
                    "?, ?) ON CONFLICT DO NOTHING",
                    [article_id, f"newswatch:known-incident/{incident_id}", title, when, f"{title}. {description}", at])
        con.execute("INSERT INTO embeddings (article_id, model, vector, embedded_at) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    [article_id, model, vector.astype(np.float32).tolist(), at])
        con.execute("INSERT INTO judgements (article_id, relevant, score, reason, report, country, intruder, judged_at) "
                    "VALUES (?, true, 1.0, 'registered by an analyst', true, ?, ?, ?) "
                    "ON CONFLICT DO NOTHING", [article_id, country, intruder, at])
        con.execute("INSERT INTO incidents (incident_id, title, first_article_id, first_seen_at, country, intruder, "
                    "created_at, status) VALUES (?, ?, ?, ?, ?, ?, ?, 'known') ON CONFLICT DO NOTHING",
                    [incident_id, title, article_id, when, country, intruder, at])
        con.execute("INSERT INTO incident_articles (article_id, incident_id, score, nearest_article_id, opened, terms_json, assigned_at) "
                    "VALUES (?, ?, 1.0, NULL, true, ?, ?) ON CONFLICT DO NOTHING",
                    [article_id, incident_id, json.dumps(terms), at])
        insert_feedback(con, "add", incident_id, None, {"title": title, "country": country, "intruder": intruder},
                  reason, actor, at)
    return incident_id

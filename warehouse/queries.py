"""Analysts' SQL: read-only queries and scripts, the public views, listings, scoring reads, and the
read-only snapshot published after every cycle."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa

from pipeline.errors import WarehouseError
from warehouse.connection import disk_full, first_line
from warehouse.paths import database_files, snapshot_path, snapshot_temp_path


def query(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[object] | None = None
          ) -> tuple[list[str], list[tuple[object, ...]]]:
    """Run an analyst's query; returns (column names, rows). Raises WarehouseError (one line) on bad or empty SQL,
    and on anything a sandboxed connection refuses."""
    try:
        cur = con.execute(sql, list(params or []))
        if cur is None:  # DuckDB returns no cursor for "", ";" or only comments
            raise WarehouseError("query failed: the query holds no statement")
        columns = [d[0] for d in (cur.description or [])]
        return columns, cur.fetchall() if cur.description else []
    except duckdb.Error as exc:
        raise WarehouseError(_query_error(exc)) from exc


_READ_ONLY_MARKERS = ("read-only mode", "configuration has been locked", "disabled by configuration",
                      "disabled through configuration", "Unique file handle conflict")


def _query_error(exc: duckdb.Error) -> str:
    """One line: DuckDB's first line, said as a refusal when the sandbox or read-only access refused it."""
    first = first_line(exc)
    if isinstance(exc, duckdb.PermissionException) or any(m in first for m in _READ_ONLY_MARKERS):
        return ("refused: queries are read-only (no writes, ATTACH, COPY ... TO, INSTALL/LOAD, settings or file "
                f"access; `newswatch export` writes a view to a file): {first}")
    return f"query failed: {first}"


def public_views(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The names of the analysts' views (v_*), sorted."""
    rows = con.execute("SELECT table_name FROM information_schema.tables WHERE table_type = 'VIEW' "
                       "AND table_name LIKE 'v\\_%' ESCAPE '\\' ORDER BY table_name").fetchall()
    return [str(r[0]) for r in rows]


def read_view(con: duckdb.DuckDBPyConnection, view: str) -> pa.Table:
    """Every row of the public view `view` as an Arrow table. Raises WarehouseError naming the known views when
    `view` is not one of them."""
    views = public_views(con)
    if view not in views:
        raise WarehouseError(f"no view {view!r} (views: {', '.join(views)})")
    try:
        return con.table(view).to_arrow_table()
    except duckdb.Error as exc:
        raise WarehouseError(_query_error(exc)) from exc


def query_script(con: duckdb.DuckDBPyConnection, script: str
                 ) -> Iterator[tuple[str, list[str], list[tuple[object, ...]]]]:
    """Run an analyst's statements one by one: yields (statement, column names, rows) for each, in order.
    Raises WarehouseError in one line: the script does not parse (nothing ran), it holds no statement, or
    statement N failed (the earlier ones' results were yielded)."""
    try:
        statements = con.extract_statements(script)
    except duckdb.Error as exc:
        raise WarehouseError(_query_error(exc)) from exc
    if not statements:
        raise WarehouseError("query failed: no SQL statement given")
    for n, sql in enumerate(statements, 1):
        text = " ".join(sql.query.split()).rstrip(";").rstrip()
        try:
            cur = con.execute(sql)
            columns = [d[0] for d in (cur.description or [])]
            rows = cur.fetchall() if cur.description else []
        except duckdb.Error as exc:
            message = _query_error(exc)
            if len(statements) > 1:  # "statement 2 of 3 (select ...): query failed: ..."
                message = f"statement {n} of {len(statements)} ({text[:60]}{'...' if len(text) > 60 else ''}): " \
                          + message
            raise WarehouseError(message) from exc
        yield text, columns, rows


def list_incidents(con: duckdb.DuckDBPyConnection, statuses: Sequence[str]
                   ) -> tuple[list[str], list[tuple[object, ...]]]:
    """Incidents with these statuses, newest first: status (open, known, dismissed, merged: folded into
    merged_into), counts and title. Merged incidents have no articles of their own (they moved)."""
    return query(con, """
        SELECT i.incident_id, i.status, i.first_seen_at, i.country, i.intruder,
               coalesce(v.article_count, 0) AS article_count, coalesce(v.source_count, 0) AS source_count,
               i.title, i.merged_into
        FROM incidents i LEFT JOIN v_incidents v USING (incident_id)
        WHERE list_contains(?, i.status)
        ORDER BY i.first_seen_at DESC, i.incident_id""", [list(statuses)])


def list_alerts(con: duckdb.DuckDBPyConnection) -> tuple[list[str], list[tuple[object, ...]]]:
    """The alert outbox, newest first, with each incident's title and the last delivery error."""
    return query(con, """
        SELECT al.created_at, al.channel, al.status, al.attempts, al.incident_id, i.title AS incident_title,
               al.sent_at, al.next_attempt_at, al.last_error
        FROM v_alerts al LEFT JOIN incidents i USING (incident_id)
        ORDER BY al.created_at DESC, al.channel, al.incident_id""")


def read_busiest_day(con: duckdb.DuckDBPyConnection) -> date | None:
    """The day with the most relevant articles (the earliest of equals; the article's publication day as
    DuckDB's CAST gives it), None when no article is relevant: the day `newswatch demo` writes the digest of."""
    row = con.execute("SELECT CAST(published_at AS DATE) AS d, count(*) FROM v_articles "
                      "WHERE relevant GROUP BY d ORDER BY count(*) DESC, d LIMIT 1").fetchone()
    return row[0] if row else None


def read_decisions(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[bool | None, str | None]]:
    """url -> (relevant, incident_id) for every article (for scoring a replay)."""
    rows = con.execute("SELECT url, relevant, incident_id FROM v_articles").fetchall()
    return {r[0]: (r[1], r[2]) for r in rows}


def read_alerted_urls(con: duckdb.DuckDBPyConnection, channel: str) -> list[str]:
    """URLs of the articles alerted on `channel`, in the order the alerts were raised."""
    rows = con.execute(
        "SELECT article_url FROM v_alerts WHERE channel = ? ORDER BY created_at, alert_id", [channel]
    ).fetchall()
    return [r[0] for r in rows]


def publish_snapshot(con: duckdb.DuckDBPyConnection, warehouse_path: str | Path) -> Path:
    """Copy the whole warehouse into a new file and move it over the snapshot atomically (os.replace), so a
    reader sees the old snapshot or the new one, never a half-written file, and never holds the live file."""
    target = snapshot_path(warehouse_path)
    tmp = snapshot_temp_path(warehouse_path)
    leftovers = database_files(tmp)
    for leftover in leftovers:
        leftover.unlink(missing_ok=True)
    catalog = con.execute("SELECT current_database()").fetchone()[0]  # type: ignore[index]
    try:
        con.execute("CHECKPOINT")
        con.execute(f"ATTACH '{tmp.as_posix()}' AS nw_snapshot")
        try:
            con.execute(f'COPY FROM DATABASE "{catalog}" TO nw_snapshot')
        finally:
            con.execute("DETACH nw_snapshot")
        os.replace(tmp, target)
    except (duckdb.Error, OSError) as exc:
        for leftover in leftovers:  # a failed copy (a full disk) leaves neither the copy nor its WAL behind
            leftover.unlink(missing_ok=True)
        raise disk_full(exc, tmp) or WarehouseError(f"could not publish the snapshot {target}: {exc}") from exc
    return target

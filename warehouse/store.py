"""Typed reads and writes of the warehouse: the only module with SQL besides migrate.py.

Every write is idempotent (keyed on natural identity, ON CONFLICT). duckdb errors are translated here.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import os
import re
import time
import zlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from pipeline.errors import DiskFull, WarehouseBusy, WarehouseError
from pipeline.health import CycleRecord, FeedHealth
from pipeline.incidents import Member
from pipeline.models import (
    Alert,
    AssignmentRecord,
    Extraction,
    FeedEntry,
    FeedSource,
    FeedState,
    FeedSubscription,
    IncidentRecord,
    Judgement,
    Page,
    StoredArticle,
    stable_id,
)
from warehouse.migrate import apply_migrations

_LOCK_MARKERS = ("Could not set lock", "Conflicting lock", "database is locked")
_NO_SPACE_MARKERS = ("No space left on device", "Disk quota exceeded", "disk is full")
_WRITTEN_FILE = re.compile(r'(?:write|create|open|truncate|sync|extend)\w* (?:to )?(?:file |directory )?"([^"]+)"', re.I)


def disk_full(exc: BaseException, path: str | Path) -> DiskFull | None:
    """`exc` (a DuckDB or OS error) as DiskFull naming the file that could not be written (DuckDB's message names
    it; else `path`), or None when `exc` is not about a full disk."""
    message = str(exc)
    if not any(m in message for m in _NO_SPACE_MARKERS):
        return None
    found = _WRITTEN_FILE.search(message)
    name = found.group(1) if found else getattr(exc, "filename", None) or str(path)
    if name.endswith(".wal"):
        what = "the write-ahead log"
    elif ".read." in Path(name).name:
        what = "the analysts' snapshot"
    elif name.endswith(".tmp") or ".tmp" in Path(name).name:
        what = "temporary data"
    else:
        what = "the warehouse"
    return DiskFull(name, what)


def _connect_once(path: str, read_only: bool, memory_limit_mb: int | None, threads: int | None,
                  sandboxed: bool = False) -> duckdb.DuckDBPyConnection:
    # sandboxed: DuckDB's own guards, not an inspection of statements: no file but this one is opened, read or
    # written (ATTACH, COPY ... TO, EXPORT, read_csv, INSTALL/LOAD refused), and the configuration is locked so no
    # statement can lift that
    con = duckdb.connect(path, read_only=read_only, config={"enable_external_access": False} if sandboxed else {})
    con.execute("SET TimeZone = 'UTC'")
    if memory_limit_mb is not None:
        con.execute(f"SET memory_limit = '{int(memory_limit_mb)}MB'")
    if threads is not None:
        con.execute(f"SET threads = {int(threads)}")
    if sandboxed:
        con.execute("SET lock_configuration = true")
    return con


def _one_line(exc: BaseException) -> str:
    """A DuckDB message on one line (its parser errors add the statement and a caret on lines of their own)."""
    lines = [line.strip() for line in str(exc).splitlines()]
    return " ".join(line for line in lines if line and set(line) != {"^"})


def connect(path: str | Path, *, read_only: bool = False, busy_timeout_seconds: float = 60.0,
            memory_limit_mb: int | None = None, threads: int | None = None, sandboxed: bool = False,
            create: bool = True) -> duckdb.DuckDBPyConnection:
    """Open the warehouse (creating it, unless `create` is False, and applying migrations when writable), waiting
    up to `busy_timeout_seconds` while another process holds it. `memory_limit_mb` caps DuckDB's memory (its page
    cache) and `threads` its worker threads, for the whole open database; None keeps DuckDB's default.
    `sandboxed` (analysts' SQL; implies read_only): read-only access, external access disabled, configuration
    locked. While it waits it says so (`openers_waiting`), and a running cycle hands the file over at its next unit
    of work. Raises WarehouseBusy, WarehouseError (also when the file is missing and must not be created)."""
    path = str(path)
    read_only = read_only or sandboxed
    if Path(path).is_dir():
        raise WarehouseError(f"warehouse {path} is a directory, not a DuckDB file (see warehouse.path)")
    if read_only or not create:
        if not Path(path).exists():
            raise WarehouseError(f"no warehouse at {path} (check warehouse.path; `newswatch run` or "
                                 "`newswatch demo` creates it)")
    else:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + busy_timeout_seconds
    delay = 0.05
    knock: int | None = None  # while waiting: a shared lock on <path>.wait (see openers_waiting)
    knocked = False
    try:
        while True:
            try:
                con = _connect_once(path, read_only, memory_limit_mb, threads, sandboxed)
                break
            except duckdb.IOException as exc:
                if not any(m in str(exc) for m in _LOCK_MARKERS):
                    raise WarehouseError(f"cannot open warehouse {path}: {_one_line(exc)}") from exc
                if time.monotonic() >= deadline:
                    raise WarehouseBusy(path, str(exc).splitlines()[0]) from exc
                if not knocked:
                    knock, knocked = _knock(path), True
                time.sleep(delay)
                delay = min(delay * 2, 0.25)  # the holder hands the file over between units of work: be there
            except duckdb.Error as exc:
                raise disk_full(exc, path) or WarehouseError(
                    f"cannot open warehouse {path}: {_one_line(exc)}") from exc
    finally:
        if knock is not None:
            os.close(knock)  # releases the lock
    if not read_only:
        try:
            apply_migrations(con)
        except duckdb.Error as exc:
            con.close()
            full = disk_full(exc, path)
            if full is None:
                raise
            raise full from exc
    return con


def _wait_path(path: str) -> str:
    return path + ".wait"


def _knock(path: str) -> int | None:
    """Tell the process holding the warehouse that an opener waits: a shared lock on `<path>.wait`, held until
    the descriptor returned is closed (or the process dies). None when the file cannot be made (a read-only
    directory): the opener then waits unannounced, for the holder's next pause."""
    try:
        fd = os.open(_wait_path(path), os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        return None
    fcntl.flock(fd, fcntl.LOCK_SH)  # only ever blocks for the holder's instant test in openers_waiting
    return fd


def openers_waiting(path: str | Path) -> bool:
    """Whether another connect() (any process: a CLI writer, `newswatch sql --live`) is waiting for the warehouse
    at `path`. A long-running holder asks this between units of work and, when true, closes its connections so
    the waiting opener gets the file. About 10 microseconds; no file is created."""
    try:
        fd = os.open(_wait_path(str(path)), os.O_RDONLY)
    except OSError:  # no such file: nobody ever waited
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # also drops the exclusive lock taken when nobody waited
    return False


@contextmanager
def open_warehouse(path: str | Path, *, read_only: bool = False, busy_timeout_seconds: float = 60.0,
                   memory_limit_mb: int | None = None, threads: int | None = None, sandboxed: bool = False,
                   create: bool = True
                   ) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection for one unit of work, closed (file released) afterwards (arguments: see `connect`)."""
    con = connect(path, read_only=read_only, busy_timeout_seconds=busy_timeout_seconds,
                  memory_limit_mb=memory_limit_mb, threads=threads, sandboxed=sandboxed, create=create)
    try:
        yield con
    except duckdb.Error as exc:  # a full disk, wherever the unit of work wrote: one error naming the file
        full = disk_full(exc, path)
        if full is None:
            raise
        raise full from exc
    finally:
        con.close()


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    con.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def _many(con: duckdb.DuckDBPyConnection, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    """executemany that accepts an empty batch (duckdb refuses one)."""
    if rows:
        con.executemany(sql, [list(r) for r in rows])


@contextmanager
def _arrow_rows(con: duckdb.DuckDBPyConnection, name: str, columns: Mapping[str, Sequence[Any] | pa.Array]
                ) -> Iterator[bool]:
    """Expose the rows `columns` (column -> values, or a ready Arrow array such as vectors) to SQL as view `name`
    for the duration of the block; yields False when there are no rows. Datetimes are stored in UTC.

    duckdb's executemany runs one statement per row (about 10 ms a row with a primary key here, benchmarks/
    PERFORMANCE.md); one statement over an Arrow scan writes thousands of rows in milliseconds."""
    arrays = {c: v if isinstance(v, pa.Array) else pa.array([_utc(x) if isinstance(x, datetime) else x for x in v])
              for c, v in columns.items()}
    if not arrays or len(next(iter(arrays.values()))) == 0:
        yield False
        return
    con.register(name, pa.table(arrays))
    try:
        yield True
    finally:
        con.unregister(name)


def _bulk(con: duckdb.DuckDBPyConnection, table: str, columns: Mapping[str, Sequence[Any] | pa.Array],
          conflict: str = "", casts: Mapping[str, str] | None = None) -> None:
    """INSERT INTO table (columns) SELECT ... FROM the rows, in one statement. `casts` gives a column's SQL type
    when Arrow's is not the table's (FLOAT[384] -> FLOAT[]); `conflict` is the ON CONFLICT clause."""
    view = f"_rows_{table}"
    with _arrow_rows(con, view, columns) as any_rows:
        if any_rows:
            select = ", ".join(f"{c}::{casts[c]}" if casts and c in casts else c for c in columns)
            con.execute(f"INSERT INTO {table} ({', '.join(columns)}) SELECT {select} FROM {view} {conflict}")


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# ---------------------------------------------------------------- feeds

def upsert_feeds(con: duckdb.DuckDBPyConnection, sources: Sequence[FeedSource]) -> None:
    """Register configured feeds (a changed URL resets the conditional-GET validators; a name given twice: the
    last URL)."""
    urls = {s.name: s.url for s in sources}
    _bulk(con, "feeds", {"name": list(urls), "url": list(urls.values())},
          "ON CONFLICT (name) DO UPDATE SET "
          "etag = CASE WHEN feeds.url = excluded.url THEN feeds.etag END, "
          "last_modified = CASE WHEN feeds.url = excluded.url THEN feeds.last_modified END, url = excluded.url")


def read_feed_states(con: duckdb.DuckDBPyConnection, names: Sequence[str]) -> list[FeedState]:
    # Keys go in as an Arrow table, never as a list parameter: duckdb binds a Python list element by element
    # (about 5 ms each here, two failed optional imports apiece), seconds for a few hundred feeds.
    with _arrow_rows(con, "_keys_feeds", {"k": list(names)}) as any_rows:
        if not any_rows:
            return []
        rows = con.execute(
            "SELECT name, url, etag, last_modified, consecutive_failures, next_poll_at FROM feeds "
            "WHERE name IN (SELECT k FROM _keys_feeds) ORDER BY name").fetchall()
    return [FeedState(r[0], r[1], r[2], r[3], int(r[4]), _utc(r[5])) for r in rows]


@dataclass(frozen=True)
class FeedPoll:
    """One poll outcome: status 'ok'/'not_modified' resets the failure count, anything else increments it."""

    name: str
    polled_at: datetime
    status: str
    error: str | None
    etag: str | None
    last_modified: str | None
    next_poll_at: datetime | None


def mark_feeds_polled(con: duckdb.DuckDBPyConnection, polls: Sequence[FeedPoll]) -> None:
    """Record poll outcomes, all feeds in one statement (a quiet cycle over hundreds of feeds stays cheap)."""
    with _arrow_rows(con, "_rows_polls", {
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
    _bulk(con, "feed_bodies", {
        "feed": [b[0] for b in bodies], "sha256": [hashlib.sha256(b[1]).hexdigest() for b in bodies],
        "fetched_at": [b[3] for b in bodies], "content_type": [b[2] for b in bodies],
        "body_zlib": [zlib.compress(b[1], 6) for b in bodies],
    }, "ON CONFLICT DO NOTHING", casts={"content_type": "VARCHAR"})


def upsert_entries(con: duckdb.DuckDBPyConnection, entries: Sequence[FeedEntry], seen_at: datetime) -> int:
    """Insert entries not seen before (by entry_id), of any number of feeds; returns how many were new."""
    if not entries:
        return 0
    before = con.execute("SELECT count(*) FROM entries").fetchone()[0]  # type: ignore[index]
    _bulk(con, "entries", {
        "entry_id": [e.entry_id for e in entries], "feed": [e.feed for e in entries], "guid": [e.guid for e in entries],
        "url": [e.url for e in entries], "title": [e.title for e in entries], "summary": [e.summary for e in entries],
        "published_at": [e.published_at for e in entries], "lang": [e.lang for e in entries],
        "first_seen_at": [seen_at] * len(entries),
    }, "ON CONFLICT (entry_id) DO NOTHING")
    after = con.execute("SELECT count(*) FROM entries").fetchone()[0]  # type: ignore[index]
    return int(after - before)


# ---------------------------------------------------------------- pages and articles

def pending_entries(con: duckdb.DuckDBPyConnection, now: datetime | None = None, limit: int = 10_000
                    ) -> list[FeedEntry]:
    """Entries with no article yet, and articles whose transient failure is due for another try (retry_at
    <= now), oldest publication first."""
    rows = con.execute(
        "SELECT e.entry_id, e.feed, e.guid, e.url, e.title, e.summary, e.published_at, e.lang FROM entries e "
        "LEFT JOIN articles a ON a.article_id = e.entry_id "
        "WHERE a.article_id IS NULL OR (a.retry_at IS NOT NULL AND a.retry_at <= ?) "
        "ORDER BY e.published_at NULLS LAST, e.entry_id LIMIT ?", [now or datetime.now(UTC), limit],
    ).fetchall()
    return [FeedEntry(r[0], r[1], r[2], r[3], r[4], r[5], _utc(r[6]), r[7]) for r in rows]


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


@dataclass(frozen=True)
class FetchOutcome:
    """One fetched (or failed) entry to store: `retry_at` set for a transient failure to fetch again then."""

    entry: FeedEntry
    page: Page | None
    extraction: Extraction
    fetched_at: datetime
    retry_at: datetime | None = None


def save_articles(con: duckdb.DuckDBPyConnection, outcomes: Sequence[FetchOutcome]) -> None:
    """Write the pages (compressed, when one was fetched) and the article rows of a batch, in one transaction.
    A row with `retry_at` waits (later stages skip it until it is final); a refetch counts another attempt."""
    if not outcomes:
        return
    fetched = [(o, o.page) for o in outcomes if o.page is not None]
    with transaction(con):
        _bulk(con, "pages", {
            "entry_id": [o.entry.entry_id for o, _ in fetched], "url": [o.entry.url for o, _ in fetched],
            "final_url": [p.final_url for _, p in fetched], "http_status": [p.status for _, p in fetched],
            "content_type": [p.content_type for _, p in fetched], "fetched_at": [o.fetched_at for o, _ in fetched],
            "html_zlib": [zlib.compress(p.html, 6) for _, p in fetched],
        }, "ON CONFLICT (entry_id) DO UPDATE SET final_url = excluded.final_url, http_status = excluded.http_status, "
           "content_type = excluded.content_type, fetched_at = excluded.fetched_at, html_zlib = excluded.html_zlib")
        _bulk(con, "articles", {
            "article_id": [o.entry.entry_id for o in outcomes], "url": [o.entry.url for o in outcomes],
            "feed": [o.entry.feed for o in outcomes],
            "title": [o.entry.title or o.extraction.title for o in outcomes],
            "published_at": [o.entry.published_at or o.extraction.published_at or o.fetched_at for o in outcomes],
            "lang": [o.entry.lang or o.extraction.lang for o in outcomes],
            "status": [o.extraction.status for o in outcomes], "reason": [o.extraction.reason for o in outcomes],
            "text": [o.extraction.text if o.extraction.text.strip() else o.entry.summary for o in outcomes],
            "extracted_at": [o.fetched_at for o in outcomes], "fetch_attempts": [1] * len(outcomes),
            "retry_at": [o.retry_at for o in outcomes],
        }, "ON CONFLICT (article_id) DO UPDATE SET status = excluded.status, reason = excluded.reason, "
           "text = excluded.text, lang = excluded.lang, extracted_at = excluded.extracted_at, "
           "retry_at = excluded.retry_at, fetch_attempts = articles.fetch_attempts + 1",
           casts={"fetch_attempts": "INTEGER"})


def save_article(con: duckdb.DuckDBPyConnection, entry: FeedEntry, page: Page | None, extraction: Extraction,
                 *, fetched_at: datetime, retry_at: datetime | None = None) -> None:
    """save_articles for one entry."""
    save_articles(con, [FetchOutcome(entry, page, extraction, fetched_at, retry_at)])


def read_fetch_attempts(con: duckdb.DuckDBPyConnection, article_ids: Sequence[str]) -> dict[str, int]:
    """How many times each article's page was fetched so far (absent: never)."""
    with _arrow_rows(con, "_keys_articles", {"k": list(article_ids)}) as any_rows:  # see read_feed_states
        if not any_rows:
            return {}
        rows = con.execute("SELECT article_id, fetch_attempts FROM articles "
                           "WHERE article_id IN (SELECT k FROM _keys_articles)").fetchall()
    return {r[0]: int(r[1]) for r in rows}


def _article(r: tuple[Any, ...]) -> StoredArticle:
    return StoredArticle(r[0], r[1], r[2], r[3], r[4], _utc(r[5]), r[6], r[7])  # type: ignore[arg-type]


_ARTICLE_COLS = "a.article_id, a.url, a.feed, a.title, a.text, a.published_at, a.lang, a.status"


def pending_embeddings(con: duckdb.DuckDBPyConnection, model: str, *, relevant_only: bool = False,
                       limit: int = 10_000) -> list[StoredArticle]:
    """Articles with no vector from `model` yet (only those judged relevant, with relevant_only), oldest first."""
    rows = con.execute(
        f"SELECT {_ARTICLE_COLS} FROM articles a "
        "ANTI JOIN (SELECT article_id FROM embeddings WHERE model = ?) e ON e.article_id = a.article_id "
        "WHERE a.retry_at IS NULL AND (NOT ? OR EXISTS (SELECT 1 FROM judgements j WHERE j.article_id = a.article_id AND j.relevant)) "
        "ORDER BY a.published_at, a.article_id LIMIT ?", [model, relevant_only, limit],
    ).fetchall()
    return [_article(r) for r in rows]


def insert_embeddings(con: duckdb.DuckDBPyConnection, model: str, article_ids: Sequence[str], vectors: np.ndarray,
                      embedded_at: datetime) -> None:
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    with transaction(con):
        _bulk(con, "embeddings", {
            "article_id": list(article_ids), "model": [model] * len(article_ids),
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), vectors.shape[1]),
            "embedded_at": [embedded_at] * len(article_ids),
        }, "ON CONFLICT (article_id, model) DO UPDATE SET vector = excluded.vector, embedded_at = excluded.embedded_at",
            casts={"vector": "FLOAT[]"})


def pending_judgements(con: duckdb.DuckDBPyConnection, model: str, limit: int = 10_000
                       ) -> list[tuple[StoredArticle, np.ndarray]]:
    """Embedded articles not judged yet (at most `limit`), with their vectors, oldest first."""
    rows = con.execute(
        f"SELECT {_ARTICLE_COLS}, e.vector FROM articles a JOIN embeddings e USING (article_id) "
        "ANTI JOIN judgements j ON j.article_id = a.article_id WHERE e.model = ? "
        "ORDER BY a.published_at, a.article_id LIMIT ?", [model, limit],
    ).fetchall()
    return [(_article(r), np.asarray(r[8], dtype=np.float32)) for r in rows]


def insert_judgements(con: duckdb.DuckDBPyConnection, judgements: Sequence[Judgement], judged_at: datetime) -> None:
    with transaction(con):
        _bulk(con, "judgements", {
            "article_id": [j.article_id for j in judgements], "relevant": [j.relevant for j in judgements],
            "score": [float(j.score) for j in judgements], "reason": [j.reason for j in judgements],
            "report": [j.report for j in judgements], "country": [j.country for j in judgements],
            "intruder": [j.intruder for j in judgements], "event_day": [j.event_day for j in judgements],
            "judged_at": [judged_at] * len(judgements),
        }, "ON CONFLICT (article_id) DO UPDATE SET relevant = excluded.relevant, score = excluded.score, "
           "reason = excluded.reason, report = excluded.report, country = excluded.country, "
           "intruder = excluded.intruder, event_day = excluded.event_day, judged_at = excluded.judged_at")


# ---------------------------------------------------------------- incidents

def pending_assignments(con: duckdb.DuckDBPyConnection, model: str) -> list[tuple[StoredArticle, np.ndarray, Judgement]]:
    """Relevant articles not yet in an incident, in publication order, with vector and judgement."""
    rows = con.execute(
        f"SELECT {_ARTICLE_COLS}, e.vector, j.relevant, j.score, j.reason, j.report, j.country, j.intruder, "
        "j.event_day "
        "FROM articles a JOIN embeddings e USING (article_id) JOIN judgements j USING (article_id) "
        "ANTI JOIN incident_articles ia ON ia.article_id = a.article_id "
        "WHERE j.relevant AND e.model = ? ORDER BY a.published_at, a.article_id", [model],
    ).fetchall()
    return [
        (_article(r), np.asarray(r[8], dtype=np.float32), Judgement(r[0], r[9], r[10], r[11], r[12], r[13], r[14], r[15]))
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
    return [Member(r[0], r[1], _utc(r[2]), np.asarray(r[3], dtype=np.float32), json.loads(r[4]),  # type: ignore[arg-type]
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
        _bulk(con, "incidents", {
            "incident_id": [i.incident_id for i in incidents], "title": [i.title for i in incidents],
            "first_article_id": [i.first_article_id for i in incidents],
            "first_seen_at": [i.first_seen_at for i in incidents], "country": [i.country for i in incidents],
            "intruder": [i.intruder for i in incidents], "created_at": [assigned_at] * len(incidents),
        }, "ON CONFLICT (incident_id) DO NOTHING")
        _bulk(con, "incident_articles", {
            "article_id": [a.article_id for a in assignments], "incident_id": [a.incident_id for a in assignments],
            "score": [float(a.score) for a in assignments],
            "nearest_article_id": [a.nearest_article_id for a in assignments],
            "opened": [a.opened for a in assignments], "terms_json": [json.dumps(a.terms) for a in assignments],
            "assigned_at": [assigned_at] * len(assignments),
        }, "ON CONFLICT (article_id) DO NOTHING", casts={"incident_id": "VARCHAR", "nearest_article_id": "VARCHAR"})
        _bulk(con, "term_stats", {"term": [t for t, _ in df_rows], "df": [int(d) for _, d in df_rows]},
              "ON CONFLICT (term) DO UPDATE SET df = excluded.df", casts={"df": "INTEGER"})
        con.execute(
            "INSERT INTO counters (name, value) "
            "VALUES ('term_docs', ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            [n_docs],
        )


# ---------------------------------------------------------------- alerts

def alert_id(incident_id: str, channel: str) -> str:
    return stable_id("alert", incident_id, channel)


def insert_alerts(con: duckdb.DuckDBPyConnection, incident_ids: Sequence[str], channel: str, created_at: datetime) -> int:
    """One pending alert per (incident, channel); an incident already alerted on that channel is left alone."""
    before = con.execute("SELECT count(*) FROM alerts").fetchone()[0]  # type: ignore[index]
    _many(con, 
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
    _many(con, "INSERT INTO channels (name, type, registered_at) "
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
    return [IncidentRecord(r[0], r[1], r[2], _utc(r[3]), r[4], r[5]) for r in rows]  # type: ignore[arg-type]


def read_alerts(con: duckdb.DuckDBPyConnection, *, status: str | None = None, channel: str | None = None) -> list[Alert]:
    rows = con.execute(
        "SELECT al.alert_id, al.incident_id, al.article_id, al.channel, al.status, al.created_at, i.title, i.country, "
        "i.intruder, a.url, a.title, a.feed, a.published_at FROM alerts al "
        "JOIN incidents i USING (incident_id) JOIN articles a ON a.article_id = al.article_id "
        "WHERE (? IS NULL OR al.status = ?) AND (? IS NULL OR al.channel = ?) "
        "ORDER BY a.published_at, al.alert_id", [status, status, channel, channel],
    ).fetchall()
    return [Alert(r[0], r[1], r[2], r[3], r[4], _utc(r[5]), r[6], r[7], r[8], r[9], r[10], r[11], _utc(r[12]))  # type: ignore[arg-type]
            for r in rows]


def mark_alert(con: duckdb.DuckDBPyConnection, alert_id_: str, *, status: str, at: datetime, error: str | None = None) -> None:
    con.execute(
        "UPDATE alerts SET status = ?, attempts = attempts + 1, last_error = ?, "
        "sent_at = CASE WHEN ? = 'sent' THEN ? ELSE sent_at END WHERE alert_id = ?",
        [status, error, status, at, alert_id_],
    )


# ---------------------------------------------------------------- read-only queries for CLI and digest

def query(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] | None = None
          ) -> tuple[list[str], list[tuple[Any, ...]]]:
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
    first = _first_line(exc)
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


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def query_script(con: duckdb.DuckDBPyConnection, script: str
                 ) -> Iterator[tuple[str, list[str], list[tuple[Any, ...]]]]:
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
                   ) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Incidents with these statuses, newest first: status (open, known, dismissed, merged: folded into
    merged_into), counts and title. Merged incidents have no articles of their own (they moved)."""
    return query(con, """
        SELECT i.incident_id, i.status, i.first_seen_at, i.country, i.intruder,
               coalesce(v.article_count, 0) AS article_count, coalesce(v.source_count, 0) AS source_count,
               i.title, i.merged_into
        FROM incidents i LEFT JOIN v_incidents v USING (incident_id)
        WHERE list_contains(?, i.status)
        ORDER BY i.first_seen_at DESC, i.incident_id""", [list(statuses)])


def list_alerts(con: duckdb.DuckDBPyConnection) -> tuple[list[str], list[tuple[Any, ...]]]:
    """The alert outbox, newest first, with each incident's title and the last delivery error."""
    return query(con, """
        SELECT al.created_at, al.channel, al.status, al.attempts, al.incident_id, i.title AS incident_title,
               al.sent_at, al.next_attempt_at, al.last_error
        FROM v_alerts al LEFT JOIN incidents i USING (incident_id)
        ORDER BY al.created_at DESC, al.channel, al.incident_id""")


_DAY_INCIDENTS = (  # incidents (not dismissed or merged) with an article published in [?, ?)
    "SELECT i.incident_id FROM incidents i WHERE i.status NOT IN ('dismissed', 'merged') AND EXISTS ("
    " SELECT 1 FROM incident_articles ia JOIN articles a USING (article_id) "
    " WHERE ia.incident_id = i.incident_id AND a.published_at >= ? AND a.published_at < ?)")


def read_first_cycle_at(con: duckdb.DuckDBPyConnection) -> datetime | None:
    """When the first cycle ran: the earliest channel registration (each cycle registers its channels before it
    polls; channels carried over from before 0005 count from 1970 and are left out) or first seen entry."""
    row = con.execute(
        "SELECT least((SELECT min(registered_at) FROM channels "
        "              WHERE registered_at > TIMESTAMPTZ '1970-01-01 00:00:00+00'), "
        "             (SELECT min(first_seen_at) FROM entries))").fetchone()
    return _utc(row[0]) if row else None


def read_digest_data(con: duckdb.DuckDBPyConnection, start: datetime, end: datetime, activity_start: datetime,
                     failing_for_hours: float = 0.0) -> Any:
    """The warehouse rows of the digest of the day [start, end) (publication time) as pipeline DigestRows:
    incidents with an article of the day and their articles published before `end` (the day's with their
    text), the day's relevant articles in no incident, every feed (failing for at least `failing_for_hours`
    since its last success, muted, items of the day, newest item before `end`), the relevant articles of
    [activity_start, end) with their country, the day's counts and the first cycle's time."""
    from pipeline.digest import DigestArticle, DigestRows, FeedRow, IncidentRow

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
        "SELECT f.name, f.url, f.last_status, f.consecutive_failures, f.last_error, "
        " f.consecutive_failures > 0 AND (f.last_success_at IS NULL "
        "  OR epoch(f.last_polled_at) - epoch(f.last_success_at) >= ? * 3600), "
        " coalesce(f.muted, false), coalesce(p.today, 0), p.newest "
        "FROM feeds f LEFT JOIN per_feed p ON p.feed = f.name ORDER BY f.name",
        [start, end, end, failing_for_hours]).fetchall()
    activity = con.execute(
        "SELECT a.published_at, coalesce(i.country, j.country) FROM articles a JOIN judgements j USING (article_id) "
        "LEFT JOIN incident_articles ia USING (article_id) LEFT JOIN incidents i ON i.incident_id = ia.incident_id "
        "WHERE j.relevant AND coalesce(i.status, 'open') <> 'dismissed' "
        "AND a.published_at >= ? AND a.published_at < ?", [activity_start, end]).fetchall()
    counts = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE j.relevant) FROM articles a LEFT JOIN judgements j USING (article_id) "
        "WHERE a.published_at >= ? AND a.published_at < ?", [start, end],
    ).fetchone()

    def article(r: tuple[Any, ...]) -> DigestArticle:
        return DigestArticle(r[0], r[1], r[2], r[3], r[4], _utc(r[5]), r[6] if len(r) > 6 else "")  # type: ignore[arg-type]

    return DigestRows(
        incidents=tuple(IncidentRow(r[0], r[1], r[2], r[3], _utc(r[4]), r[5]) for r in incidents),  # type: ignore[arg-type]
        members=tuple(article(r) for r in members),
        other_articles=tuple(article(r) for r in others),
        feeds=tuple(FeedRow(r[0], r[1], r[2], int(r[3]), r[4], bool(r[5]), bool(r[6]), int(r[7]), _utc(r[8]))
                    for r in feeds),
        activity=tuple((_utc(r[0]), r[1]) for r in activity),  # type: ignore[misc]
        articles_seen=int(counts[0]) if counts else 0, relevant_articles=int(counts[1] or 0) if counts else 0,
        first_cycle_at=read_first_cycle_at(con),
    )


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


# ---- outbox (alerts and digests delivery)
# Rows move pending -> sent, or pending -> pending (retry at next_attempt_at) -> ... -> failed. A claim pushes
# next_attempt_at forward by a lease, so a second deliverer skips rows being sent and a crashed one's rows come
# back after the lease (sent again with the same idempotency key / Message-ID).

def read_incident_facts(con: duckdb.DuckDBPyConnection, incident_ids: Sequence[str]) -> list[Any]:
    """IncidentFacts (country, intruder, distinct feeds so far) of the given incidents, for channel filters."""
    from pipeline.outbox import IncidentFacts

    if not incident_ids:
        return []
    with _arrow_rows(con, "_keys_incidents", {"k": list(incident_ids)}):  # see read_feed_states
        rows = con.execute(
            "SELECT i.incident_id, i.country, i.intruder, count(DISTINCT a.feed) FROM incidents i "
            "LEFT JOIN incident_articles ia ON ia.incident_id = i.incident_id "
            "LEFT JOIN articles a ON a.article_id = ia.article_id "
            "WHERE i.incident_id IN (SELECT k FROM _keys_incidents) GROUP BY ALL ORDER BY i.incident_id").fetchall()
    return [IncidentFacts(r[0], r[1], r[2], max(int(r[3]), 1)) for r in rows]


def _alert_details(con: duckdb.DuckDBPyConnection, alerts: Sequence[Alert], max_sources: int) -> list[Any]:
    from pipeline.alerts import AlertDetail, SourceRef

    out = []
    for al in alerts:
        text_row = con.execute("SELECT text FROM articles WHERE article_id = ?", [al.article_id]).fetchone()
        rows = con.execute(
            "SELECT a.feed, a.title, a.url, a.published_at FROM incident_articles ia "
            "JOIN articles a USING (article_id) WHERE ia.incident_id = ? AND a.article_id <> ? "
            "ORDER BY a.published_at, a.article_id", [al.incident_id, al.article_id],
        ).fetchall()
        feeds = {al.feed} | {r[0] for r in rows}
        seen: set[str] = {al.feed}
        others = []
        for r in rows:  # one line per other outlet: its first article
            if r[0] not in seen:
                seen.add(r[0])
                others.append(SourceRef(r[0], r[1], r[2], _utc(r[3])))  # type: ignore[arg-type]
        out.append(AlertDetail(al, text_row[0] if text_row else "", tuple(others[:max_sources]), len(feeds)))
    return out


def read_alert_details(con: duckdb.DuckDBPyConnection, *, channel: str | None = None, max_sources: int = 10
                       ) -> list[Any]:
    """AlertDetail of every alert (of `channel`), oldest first: what its message says as of now."""
    return _alert_details(con, read_alerts(con, channel=channel), max_sources)


def claim_due_alerts(con: duckdb.DuckDBPyConnection, channel: str, now: datetime, lease_until: datetime,
                     limit: int = 500, max_sources: int = 10) -> list[Any]:
    """Pending alerts of `channel` due at `now` (next_attempt_at NULL or past), oldest incident first, as
    OutboxAlert; their next_attempt_at is set to `lease_until` in the same transaction."""
    from pipeline.outbox import OutboxAlert

    with transaction(con):
        rows = con.execute(
            "SELECT alert_id, attempts FROM alerts WHERE channel = ? AND status = 'pending' "
            "AND (next_attempt_at IS NULL OR next_attempt_at <= ?) ORDER BY created_at, alert_id LIMIT ?",
            [channel, now, limit],
        ).fetchall()
        attempts = {r[0]: int(r[1]) for r in rows}
        _many(con, "UPDATE alerts SET next_attempt_at = ? WHERE alert_id = ?", [[lease_until, a] for a in attempts])
    alerts = [a for a in read_alerts(con, status="pending", channel=channel) if a.alert_id in attempts]
    return [OutboxAlert(d, attempts[d.alert.alert_id]) for d in _alert_details(con, alerts, max_sources)]


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
    _many(con, f"UPDATE {outbox} SET next_attempt_at = ?, last_error = ? WHERE {key} = ? AND status = 'pending'",
          [[next_attempt_at, note, r] for r in row_ids])


def mark_alert_delivery(con: duckdb.DuckDBPyConnection, alert_id_: str, *, status: str, at: datetime,
                        error: str | None, next_attempt_at: datetime | None) -> None:
    """Record one delivery attempt: status 'sent' | 'pending' (retry at next_attempt_at) | 'failed'."""
    _mark_delivery(con, "alerts", alert_id_, status=status, at=at, error=error, next_attempt_at=next_attempt_at)


def release_alerts(con: duckdb.DuckDBPyConnection, alert_ids: Sequence[str], next_attempt_at: datetime | None,
                   note: str) -> None:
    """Give claimed alerts back without counting an attempt (their channel failed on an earlier row)."""
    _release(con, "alerts", alert_ids, next_attempt_at, note)


def insert_digest(con: duckdb.DuckDBPyConnection, digest: Any, created_at: datetime) -> bool:
    """Queue an OutboxDigest (status pending). False when (day, channel) already has a row: never twice."""
    before = con.execute("SELECT count(*) FROM digests").fetchone()[0]  # type: ignore[index]
    con.execute(
        "INSERT INTO digests (digest_id, day, channel, message_id, status, attempts, subject, body_text, body_html, "
        "payload_json, created_at) VALUES (?, ?, ?, ?, 'pending', 0, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        [digest.digest_id, digest.day, digest.channel, digest.message_id, digest.subject, digest.body_text,
         digest.body_html, digest.payload_json, created_at],
    )
    return bool(con.execute("SELECT count(*) FROM digests").fetchone()[0] > before)  # type: ignore[index]


def read_digest_status(con: duckdb.DuckDBPyConnection, day: Any, channel: str) -> tuple[str, int, str | None] | None:
    """(status, attempts, last_error) of the digest of `day` on `channel`, None when never queued."""
    row = con.execute("SELECT status, attempts, last_error FROM digests WHERE day = ? AND channel = ?",
                      [day, channel]).fetchone()
    return (row[0], int(row[1]), row[2]) if row else None


def requeue_failed_digest(con: duckdb.DuckDBPyConnection, day: Any, channel: str) -> bool:
    """A failed digest becomes pending again (attempts reset); a sent one is never touched."""
    before = con.execute("SELECT count(*) FROM digests WHERE status = 'pending'").fetchone()[0]  # type: ignore[index]
    con.execute("UPDATE digests SET status = 'pending', attempts = 0, next_attempt_at = NULL "
                "WHERE day = ? AND channel = ? AND status = 'failed'", [day, channel])
    return bool(con.execute("SELECT count(*) FROM digests WHERE status = 'pending'").fetchone()[0] > before)  # type: ignore[index]


def claim_due_digests(con: duckdb.DuckDBPyConnection, channel: str, now: datetime, lease_until: datetime) -> list[Any]:
    """Pending digests of `channel` due at `now`, oldest day first, as OutboxDigest (leased like alerts)."""
    from pipeline.outbox import OutboxDigest

    with transaction(con):
        rows = con.execute(
            "SELECT digest_id, day, channel, message_id, subject, body_text, body_html, payload_json, attempts "
            "FROM digests WHERE channel = ? AND status = 'pending' "
            "AND (next_attempt_at IS NULL OR next_attempt_at <= ?) ORDER BY day, digest_id", [channel, now],
        ).fetchall()
        _many(con, "UPDATE digests SET next_attempt_at = ? WHERE digest_id = ?", [[lease_until, r[0]] for r in rows])
    return [OutboxDigest(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], int(r[8])) for r in rows]


def mark_digest_delivery(con: duckdb.DuckDBPyConnection, digest_id_: str, *, status: str, at: datetime,
                         error: str | None, next_attempt_at: datetime | None) -> None:
    """Record one digest delivery attempt (see mark_alert_delivery)."""
    _mark_delivery(con, "digests", digest_id_, status=status, at=at, error=error, next_attempt_at=next_attempt_at)


def release_digests(con: duckdb.DuckDBPyConnection, digest_ids: Sequence[str], next_attempt_at: datetime | None,
                    note: str) -> None:
    """Give claimed digests back without counting an attempt."""
    _release(con, "digests", digest_ids, next_attempt_at, note)


# ---- read-only snapshot for analysts (published after every cycle)

def snapshot_path(warehouse_path: str | Path) -> Path:
    """Where the analysts' read-only copy of `warehouse_path` lives: `<name>.read.duckdb` beside it."""
    p = Path(warehouse_path)
    return p.with_name(p.stem + ".read" + (p.suffix or ".duckdb"))


def publish_snapshot(con: duckdb.DuckDBPyConnection, warehouse_path: str | Path) -> Path:
    """Copy the whole warehouse into a new file and move it over the snapshot atomically (os.replace), so a
    reader sees the old snapshot or the new one, never a half-written file, and never holds the live file."""
    import os

    target = snapshot_path(warehouse_path)
    tmp = target.with_name(target.name + f".tmp{os.getpid()}")
    leftovers = (tmp, Path(str(tmp) + ".wal"))
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


# ---- analyst feedback (dismiss, merge, split, known incidents, muted feeds)

def _feedback(con: duckdb.DuckDBPyConnection, action: str, incident_id: str | None, target: str | None,
              details: dict[str, Any], reason: str | None, actor: str, at: datetime) -> None:
    fid = stable_id("feedback", action, incident_id or "", target or "", at.isoformat())
    con.execute("INSERT INTO feedback (feedback_id, action, incident_id, target, details, reason, actor, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                [fid, action, incident_id, target, json.dumps(details), reason, actor, at])


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
        _feedback(con, "dismiss", incident_id, None, {"cancelled_alerts": len(cancelled)}, reason, actor, at)
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
        _feedback(con, "merge", keep, fold, {"articles": [r[0] for r in moved]}, reason, actor, at)
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
        _feedback(con, "split", incident_id, new_id, {"articles": [r[0] for r in rows]}, reason, actor, at)
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
        _feedback(con, "add", incident_id, None, {"title": title, "country": country, "intruder": intruder},
                  reason, actor, at)
    return incident_id


def set_feed_muted(con: duckdb.DuckDBPyConnection, feed: str, muted: bool, *, reason: str | None, actor: str,
                   at: datetime) -> None:
    """A muted feed is not polled (its stored articles stay); unmute to resume."""
    if con.execute("SELECT 1 FROM feeds WHERE name = ?", [feed]).fetchone() is None:
        raise WarehouseError(f"no feed {feed!r} in this warehouse (see `newswatch sql \"select feed from v_feed_health\"`)")
    with transaction(con):
        con.execute("UPDATE feeds SET muted = ? WHERE name = ?", [muted, feed])
        _feedback(con, "mute" if muted else "unmute", None, feed, {}, reason, actor, at)


def muted_feeds(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {r[0] for r in con.execute("SELECT name FROM feeds WHERE muted").fetchall()}


# ---- feeds added without editing files (`newswatch feeds`)

def read_subscriptions(con: duckdb.DuckDBPyConnection) -> list[FeedSubscription]:
    """Feeds added with `newswatch feeds add` / `import-opml`, in the order they were added. A snapshot
    published before migration 0009 has none."""
    if not con.execute("SELECT 1 FROM duckdb_tables() WHERE table_name = 'feed_subscriptions'").fetchone():
        return []
    rows = con.execute("SELECT name, url, title, category, added_at, added_by FROM feed_subscriptions "
                       "ORDER BY added_at, name").fetchall()
    return [FeedSubscription(r[0], r[1], r[2], r[3], _utc(r[4]), r[5]) for r in rows]  # type: ignore[arg-type]


def insert_subscriptions(con: duckdb.DuckDBPyConnection, subscriptions: Sequence[FeedSubscription]) -> None:
    """Add feeds (names and URLs checked unique by the caller; a clash raises WarehouseError), recorded in
    v_feedback, all or none."""
    try:
        with transaction(con):
            for s in subscriptions:
                con.execute("INSERT INTO feed_subscriptions (name, url, title, category, added_at, added_by) "
                            "VALUES (?, ?, ?, ?, ?, ?)", [s.name, s.url, s.title, s.category, s.added_at, s.added_by])
                _feedback(con, "feed_add", None, s.name, {"url": s.url, "title": s.title, "category": s.category},
                          None, s.added_by, s.added_at)
    except duckdb.ConstraintException as exc:
        raise WarehouseError(f"feed already added: {_first_line(exc)}") from exc


def delete_subscription(con: duckdb.DuckDBPyConnection, name: str, *, reason: str | None, actor: str,
                        at: datetime) -> bool:
    """Stop polling an added feed (its stored articles and poll history stay). False: no such added feed."""
    with transaction(con):
        row = con.execute("DELETE FROM feed_subscriptions WHERE name = ? RETURNING url", [name]).fetchone()
        if row is None:
            return False
        _feedback(con, "feed_remove", None, name, {"url": row[0]}, reason, actor, at)
    return True


def read_feed_health(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[Any, ...]]:
    """feed name -> (muted, last_status, consecutive_failures, last_polled_at, items_total) of every feed
    ever polled."""
    rows = con.execute("SELECT h.feed, coalesce(f.muted, false), h.last_status, h.consecutive_failures, "
                       "h.last_polled_at, h.items_total FROM v_feed_health h JOIN feeds f ON f.name = h.feed"
                       ).fetchall()
    return {r[0]: tuple(r[1:]) for r in rows}


# ---------------------------------------------------------------- cycles and health (`newswatch status`)

_CYCLE_COLS = [f.name for f in dataclasses.fields(CycleRecord)]


def insert_cycle(con: duckdb.DuckDBPyConnection, record: CycleRecord) -> None:
    """Record one monitor cycle (keyed on its id: a cycle recorded again, failing after it was recorded, keeps
    the later record)."""
    updates = ", ".join(f"{c} = excluded.{c}" for c in _CYCLE_COLS if c != "cycle_id")
    con.execute(f"INSERT INTO cycles ({', '.join(_CYCLE_COLS)}) VALUES ({', '.join('?' * len(_CYCLE_COLS))}) "
                f"ON CONFLICT (cycle_id) DO UPDATE SET {updates}",
                [_utc(v) if isinstance(v, datetime) else v for v in dataclasses.astuple(record)])


def read_last_cycle(con: duckdb.DuckDBPyConnection) -> CycleRecord | None:
    """The newest cycle; None when none is recorded (or a read-only file predates the `cycles` table)."""
    try:
        row = con.execute(f"SELECT {', '.join(_CYCLE_COLS)} FROM cycles ORDER BY started_at DESC LIMIT 1").fetchone()
    except duckdb.CatalogException:
        return None
    if row is None:
        return None
    return CycleRecord(*[_utc(v) if isinstance(v, datetime) else v for v in row])


def read_health_of_feeds(con: duckdb.DuckDBPyConnection) -> list[FeedHealth]:
    """Every feed the warehouse knows, by name."""
    rows = con.execute("SELECT name, muted, consecutive_failures, last_status, last_error, last_success_at, "
                       "next_poll_at FROM feeds ORDER BY name").fetchall()
    return [FeedHealth(r[0], bool(r[1]), int(r[2] or 0), r[3], r[4], _utc(r[5]), _utc(r[6])) for r in rows]


@dataclass(frozen=True)
class OutboxBacklog:
    pending_alerts: int
    oldest_pending_alert_at: datetime | None
    failed_alerts: int
    pending_digests: int


def read_outbox_backlog(con: duckdb.DuckDBPyConnection) -> OutboxBacklog:
    """Alerts and digests waiting for delivery, the oldest pending alert, alerts given up on."""
    a = con.execute("SELECT count(*) FILTER (WHERE status = 'pending'), min(created_at) FILTER (WHERE status = "
                    "'pending'), count(*) FILTER (WHERE status = 'failed') FROM alerts").fetchone()
    d = con.execute("SELECT count(*) FROM digests WHERE status = 'pending'").fetchone()
    assert a is not None and d is not None
    return OutboxBacklog(int(a[0]), _utc(a[1]), int(a[2]), int(d[0]))


def count_backlog(con: duckdb.DuckDBPyConnection, model: str) -> tuple[int, int]:
    """(articles waiting for a `model` vector, embedded articles waiting for a judgement): progress totals."""
    row = con.execute(
        "SELECT (SELECT count(*) FROM articles a ANTI JOIN (SELECT article_id FROM embeddings WHERE model = ?) e "
        "        ON e.article_id = a.article_id WHERE a.retry_at IS NULL), "
        "       (SELECT count(*) FROM embeddings e ANTI JOIN judgements j ON j.article_id = e.article_id "
        "        WHERE e.model = ?)", [model, model]).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])

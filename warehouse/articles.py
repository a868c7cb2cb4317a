"""Entries and articles: feed entries, fetched pages and articles (fetch attempts, retries), embeddings and
relevance judgements."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from datetime import UTC, datetime

import duckdb
import numpy as np
import pyarrow as pa

from pipeline.models import Extraction, FeedEntry, FetchOutcome, Judgement, Page, StoredArticle
from warehouse.connection import arrow_rows, bulk_insert, transaction, utc


def upsert_entries(con: duckdb.DuckDBPyConnection, entries: Sequence[FeedEntry], seen_at: datetime) -> int:
    """Insert entries not seen before (by entry_id), of any number of feeds; returns how many were new."""
    if not entries:
        return 0
    before = con.execute("SELECT count(*) FROM entries").fetchone()[0]  # type: ignore[index]
    bulk_insert(con, "entries", {
        "entry_id": [e.entry_id for e in entries], "feed": [e.feed for e in entries], "guid": [e.guid for e in entries],
        "url": [e.url for e in entries], "title": [e.title for e in entries], "summary": [e.summary for e in entries],
        "published_at": [e.published_at for e in entries], "lang": [e.lang for e in entries],
        "first_seen_at": [seen_at] * len(entries),
    }, "ON CONFLICT (entry_id) DO NOTHING")
    after = con.execute("SELECT count(*) FROM entries").fetchone()[0]  # type: ignore[index]
    return int(after - before)


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
    return [FeedEntry(r[0], r[1], r[2], r[3], r[4], r[5], utc(r[6]), r[7]) for r in rows]


def save_articles(con: duckdb.DuckDBPyConnection, outcomes: Sequence[FetchOutcome]) -> None:
    """Write the pages (compressed, when one was fetched) and the article rows of a batch, in one transaction.
    A row with `retry_at` waits (later stages skip it until it is final); a refetch counts another attempt."""
    if not outcomes:
        return
    fetched = [(o, o.page) for o in outcomes if o.page is not None]
    with transaction(con):
        bulk_insert(con, "pages", {
            "entry_id": [o.entry.entry_id for o, _ in fetched], "url": [o.entry.url for o, _ in fetched],
            "final_url": [p.final_url for _, p in fetched], "http_status": [p.status for _, p in fetched],
            "content_type": [p.content_type for _, p in fetched], "fetched_at": [o.fetched_at for o, _ in fetched],
            "html_zlib": [zlib.compress(p.html, 6) for _, p in fetched],
        }, "ON CONFLICT (entry_id) DO UPDATE SET final_url = excluded.final_url, http_status = excluded.http_status, "
           "content_type = excluded.content_type, fetched_at = excluded.fetched_at, html_zlib = excluded.html_zlib")
        bulk_insert(con, "articles", {
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
    with arrow_rows(con, "_keys_articles", {"k": list(article_ids)}) as any_rows:  # see feeds.read_feed_states
        if not any_rows:
            return {}
        rows = con.execute("SELECT article_id, fetch_attempts FROM articles "
                           "WHERE article_id IN (SELECT k FROM _keys_articles)").fetchall()
    return {r[0]: int(r[1]) for r in rows}


ARTICLE_COLUMNS = "a.article_id, a.url, a.feed, a.title, a.text, a.published_at, a.lang, a.status"


def stored_article(r: tuple[object, ...]) -> StoredArticle:
    return StoredArticle(r[0], r[1], r[2], r[3], r[4], utc(r[5]), r[6], r[7])  # type: ignore[arg-type]


def pending_embeddings(con: duckdb.DuckDBPyConnection, model: str, *, relevant_only: bool = False,
                       limit: int = 10_000) -> list[StoredArticle]:
    """Articles with no vector from `model` yet (only those judged relevant, with relevant_only), oldest first."""
    rows = con.execute(
        f"SELECT {ARTICLE_COLUMNS} FROM articles a "
        "ANTI JOIN (SELECT article_id FROM embeddings WHERE model = ?) e ON e.article_id = a.article_id "
        "WHERE a.retry_at IS NULL AND (NOT ? OR EXISTS (SELECT 1 FROM judgements j WHERE j.article_id = a.article_id AND j.relevant)) "
        "ORDER BY a.published_at, a.article_id LIMIT ?", [model, relevant_only, limit],
    ).fetchall()
    return [stored_article(r) for r in rows]


def insert_embeddings(con: duckdb.DuckDBPyConnection, model: str, article_ids: Sequence[str], vectors: np.ndarray,
                      embedded_at: datetime) -> None:
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    with transaction(con):
        bulk_insert(con, "embeddings", {
            "article_id": list(article_ids), "model": [model] * len(article_ids),
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), vectors.shape[1]),
            "embedded_at": [embedded_at] * len(article_ids),
        }, "ON CONFLICT (article_id, model) DO UPDATE SET vector = excluded.vector, embedded_at = excluded.embedded_at",
            casts={"vector": "FLOAT[]"})


def pending_judgements(con: duckdb.DuckDBPyConnection, model: str, limit: int = 10_000
                       ) -> list[tuple[StoredArticle, np.ndarray]]:
    """Embedded articles not judged yet (at most `limit`), with their vectors, oldest first."""
    rows = con.execute(
        f"SELECT {ARTICLE_COLUMNS}, e.vector FROM articles a JOIN embeddings e USING (article_id) "
        "ANTI JOIN judgements j ON j.article_id = a.article_id WHERE e.model = ? "
        "ORDER BY a.published_at, a.article_id LIMIT ?", [model, limit],
    ).fetchall()
    return [(stored_article(r), np.asarray(r[8], dtype=np.float32)) for r in rows]


def insert_judgements(con: duckdb.DuckDBPyConnection, judgements: Sequence[Judgement], judged_at: datetime) -> None:
    with transaction(con):
        bulk_insert(con, "judgements", {
            "article_id": [j.article_id for j in judgements], "relevant": [j.relevant for j in judgements],
            "score": [float(j.score) for j in judgements], "reason": [j.reason for j in judgements],
            "report": [j.report for j in judgements], "country": [j.country for j in judgements],
            "intruder": [j.intruder for j in judgements], "event_day": [j.event_day for j in judgements],
            "analysis": [j.analysis for j in judgements], "judged_at": [judged_at] * len(judgements),
        }, "ON CONFLICT (article_id) DO UPDATE SET relevant = excluded.relevant, score = excluded.score, "
           "reason = excluded.reason, report = excluded.report, country = excluded.country, "
           "intruder = excluded.intruder, event_day = excluded.event_day, analysis = excluded.analysis, "
           "judged_at = excluded.judged_at")


def read_article_texts(con: duckdb.DuckDBPyConnection, embedded_by: str | None = None) -> list[tuple[str, str]]:
    """(title, text) of every final article (no retry pending), oldest first; with `embedded_by`, only those
    holding a vector of that model. For measuring embedders over the stored corpus."""
    rows = con.execute(
        "SELECT title, text FROM articles a WHERE retry_at IS NULL AND (?::VARCHAR IS NULL OR "
        "EXISTS (SELECT 1 FROM embeddings e WHERE e.article_id = a.article_id AND e.model = ?)) "
        "ORDER BY published_at, article_id", [embedded_by, embedded_by]).fetchall()
    return [(t or "", x or "") for t, x in rows]

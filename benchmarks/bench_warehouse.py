"""Benchmark: a synthetic warehouse of N articles (default 1,000,000) built by the project's own migrations and
filled with bulk SQL; then every analyst query of docs/queries.md and every public view, timed on a read-only
connection (median of --reps runs after one warm-up).

Writes only the --db file (keep it in /tmp, never in the repo) and the results JSON. No network.
Usage: python benchmarks/bench_warehouse.py [--articles 1000000] [--db /tmp/newswatch-bench-1m.duckdb] [--reuse]
"""

from __future__ import annotations

import argparse
import datetime as dt
import html
import json
import os
import re
import statistics
import sys
import time
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import warehouse.connection  # noqa: E402
import warehouse.paths  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
QUERIES_DOC = ROOT / "docs" / "queries.md"
CORPUS = ROOT / "pipeline" / "defaults" / "corpus" / "dev"
# The same pattern as tests/test_queries.py, so the benchmark times exactly what the doc shows
# (tests/test_bench_warehouse.py checks that both find the same queries).
QUERY_PATTERN = re.compile(r"^### (.+?)\n```sql\n(.*?)```", re.S | re.M)
VIEWS = ("v_articles", "v_incidents", "v_alerts", "v_feed_health", "v_digests", "v_feedback", "v_stream")
EXTRA_QUERIES = (
    ("v_incidents: latest 50", "SELECT * FROM v_incidents ORDER BY first_seen_at DESC, incident_id LIMIT 50"),
    ("v_incidents: count", "SELECT count(*) FROM v_incidents"),
)
END = "2026-11-01 00:00:00+00"   # the stream's last publication time; it starts SPAN_DAYS earlier
SPAN_DAYS = 730
DIM = 384                       # all-MiniLM-L6-v2 and multilingual-e5-small both give 384 floats
MINILM = "all-MiniLM-L6-v2"     # settings.embed.model: every article whose page is final (retry_at IS NULL)
E5 = "multilingual-e5-small"    # the cluster engine's dense model: relevant articles only (flows/stages.py)
STATES = ["Poland", "Estonia", "Latvia", "Lithuania", "Finland", "Denmark", "Norway", "Sweden", "Germany",
          "Netherlands", "Belgium", "Romania", "Moldova", "Slovakia", "Hungary", "Czech Republic", "Bulgaria",
          "Turkey", "Greece", "Ukraine"]
INTRUDERS = ["drones", "fighter jets", "helicopter", "balloons", "missile", "aircraft"]


def read_queries(doc: Path = QUERIES_DOC) -> list[tuple[str, str]]:
    """(title, sql) of every query in docs/queries.md, in order."""
    return QUERY_PATTERN.findall(doc.read_text(encoding="utf-8"))


# ---------------------------------------------------------------- text pools from the bundled dev corpus

def _text_pools() -> tuple[list[str], list[str], list[bytes]]:
    """Paragraphs, titles and zlib-compressed pages of the dev corpus (pipeline/defaults/corpus/dev), used as filler."""
    paragraphs: list[str] = []
    pages: list[bytes] = []
    for page in sorted((CORPUS / "site").rglob("*.html")):
        raw = page.read_bytes()
        pages.append(zlib.compress(raw, 6))
        for para in re.findall(r"<p[^>]*>(.*?)</p>", raw.decode("utf-8", "replace"), re.S):
            text = html.unescape(re.sub(r"<[^>]+>", "", para)).strip()
            if len(text) >= 80:
                paragraphs.append(" ".join(text.split()))
    titles = [json.loads(line)["title"] for line in (CORPUS / "labels.jsonl").read_text(encoding="utf-8").splitlines()]
    if not paragraphs or not titles or not pages:
        raise SystemExit(f"no text found under {CORPUS}")
    return paragraphs, titles, pages


# ---------------------------------------------------------------- build

def _step(con: duckdb.DuckDBPyConnection, label: str, sql: str, params: Sequence[Any] | None = None,
          timings: dict[str, float] | None = None) -> None:
    t0 = time.perf_counter()
    con.execute(sql, list(params or []))
    took = time.perf_counter() - t0
    if timings is not None:
        timings[label] = round(took, 2)
    print(f"  {label:<28} {took:7.1f} s", flush=True)


def build(path: Path, *, articles: int, feeds: int, relevant_share: float, vector_fraction: float,
          html_bytes: int, threads: int, memory_limit: str) -> dict[str, Any]:
    """Create the warehouse at `path` (which must not exist) with the project's migrations, then fill every table
    with INSERT ... SELECT over range(). Returns per-table timings and row counts."""
    paragraphs, titles, pages = _text_pools()
    timings: dict[str, float] = {}
    t_start = time.perf_counter()
    con = warehouse.connection.connect(path)  # read-write: applies warehouse/migrations/*.sql, exactly as the pipeline does
    migrated = [r[0] for r in con.execute("SELECT name FROM schema_migrations ORDER BY version").fetchall()]
    con.execute(f"SET threads = {int(threads)}")
    con.execute("SET memory_limit = ?", [memory_limit])
    n, f = int(articles), int(feeds)
    # u(i, salt): a deterministic uniform number in [0, 1) per row and purpose (reproducible at any thread count).
    con.execute("CREATE TEMP MACRO u(i, salt) AS (hash(i, salt) % 1000003) / 1000003.0")
    con.execute("CREATE TEMP TABLE pool_paragraphs (p VARCHAR[])")
    con.execute("INSERT INTO pool_paragraphs (p) VALUES (?)", [paragraphs])
    con.execute("CREATE TEMP TABLE pool_titles (t VARCHAR[])")
    con.execute("INSERT INTO pool_titles (t) VALUES (?)", [titles])
    # Filler blobs cut from the compressed corpus pages at several offsets (each row then appends its own id).
    size = max(0, html_bytes - 16)
    filler = [page[start:start + size] for page in pages for start in range(0, max(1, len(page) - size), 997)][:2000]
    con.execute("CREATE TEMP TABLE pool_pages (k INTEGER, body BLOB)")
    con.executemany("INSERT INTO pool_pages (k, body) VALUES (?, ?)", [[k, b] for k, b in enumerate(filler)])
    con.execute("CREATE TEMP TABLE pool_labels (states VARCHAR[], intruders VARCHAR[])")
    con.execute("INSERT INTO pool_labels (states, intruders) VALUES (?, ?)", [STATES, INTRUDERS])
    print(f"building {n:,} articles in {path} ({len(paragraphs)} paragraphs, {len(titles)} titles, "
          f"{len(pages)} pages as filler; migrations: {', '.join(migrated)})", flush=True)

    # One row of attributes per article: the skeleton every table below is derived from. Publication times rise
    # with i (the pipeline writes in time order) over SPAN_DAYS; feed sizes have a long tail (pow skew).
    _step(con, "skeleton (temp)", f"""
        CREATE TEMP TABLE a0 AS
        SELECT i,
               left(sha256('article-' || i), 16) AS article_id,
               'outlet-' || lpad(CAST(CAST(floor({f} * pow(u(i, 1), 1.8)) AS BIGINT) AS VARCHAR), 3, '0') AS feed,
               TIMESTAMPTZ '{END}' - INTERVAL {SPAN_DAYS} DAY
                 + to_seconds(CAST(floor(i * ({SPAN_DAYS} * 86400.0 / {n}) + u(i, 2) * 3600) AS BIGINT))
                 AS published_at,
               CASE WHEN u(i, 3) < 0.70 THEN 'en' WHEN u(i, 3) < 0.78 THEN 'de' WHEN u(i, 3) < 0.84 THEN 'pl'
                    WHEN u(i, 3) < 0.88 THEN 'fr' WHEN u(i, 3) < 0.91 THEN 'lt' WHEN u(i, 3) < 0.94 THEN 'et'
                    WHEN u(i, 3) < 0.97 THEN 'fi' WHEN u(i, 3) < 0.99 THEN 'ru' END AS lang,
               CASE WHEN u(i, 4) < 0.900 THEN 'ok' WHEN u(i, 4) < 0.930 THEN 'paywall'
                    WHEN u(i, 4) < 0.945 THEN 'js_shell' WHEN u(i, 4) < 0.965 THEN 'too_short'
                    WHEN u(i, 4) < 0.980 THEN 'http_404' WHEN u(i, 4) < 0.988 THEN 'timeout'
                    WHEN u(i, 4) < 0.994 THEN 'http_503' WHEN u(i, 4) < 0.997 THEN 'connection_error'
                    WHEN u(i, 4) < 0.999 THEN 'too_large' ELSE 'not_html' END AS status
        FROM range({n}) r(i)""", timings=timings)
    _step(con, "skeleton, flags (temp)", f"""
        CREATE TEMP TABLE a AS
        SELECT *,
               -- transient failures: about a third still wait for a retry (the newest ones), the rest are final
               status IN ('timeout', 'http_503', 'connection_error') AND u(i, 5) < 0.3 AS waiting,
               status IN ('timeout', 'http_503', 'connection_error') AS transient,
               NOT (status IN ('timeout', 'http_503', 'connection_error') AND u(i, 5) < 0.3)
                 AND u(i, 6) < {relevant_share} AS relevant,
               u(i, 7) < 0.85 AS report
        FROM a0""", timings=timings)
    con.execute("DROP TABLE a0")

    _step(con, "feeds", f"""
        INSERT INTO feeds (name, url, etag, last_modified, last_polled_at, last_status, consecutive_failures,
                           last_error, last_success_at, next_poll_at, muted)
        SELECT name, 'https://' || name || '.example/rss.xml', '"' || left(md5(name), 12) || '"', NULL,
               TIMESTAMPTZ '{END}', CASE WHEN fails > 0 THEN (['timeout', 'http_404', 'http_503', 'malformed'])[1 + k % 4]
                                         WHEN u(k, 11) < 0.5 THEN 'not_modified' ELSE 'ok' END,
               fails, CASE WHEN fails > 0 THEN 'feed failed: ' || (['timed out after 20 s', 'HTTP 404',
                                                                   'HTTP 503', 'not a feed'])[1 + k % 4] END,
               TIMESTAMPTZ '{END}' - to_minutes(CAST(fails * 15 AS BIGINT)),
               TIMESTAMPTZ '{END}' + INTERVAL 15 MINUTE, u(k, 12) < 0.01
        FROM (SELECT k, 'outlet-' || lpad(CAST(k AS VARCHAR), 3, '0') AS name,
                     CASE WHEN u(k, 10) < 0.06 THEN 1 + CAST(floor(u(k, 13) * 60) AS INTEGER) ELSE 0 END AS fails
              FROM range({f}) r(k))""", timings=timings)
    # One stored body per distinct feed body: about one per five new entries here, compressed filler.
    _step(con, "feed_bodies", f"""
        INSERT INTO feed_bodies (feed, sha256, fetched_at, content_type, body_zlib)
        SELECT feed, sha256('body-' || i), published_at + INTERVAL 5 MINUTE, 'application/rss+xml',
               p.body || unhex(sha256('body-' || i))
        FROM a JOIN pool_pages p ON p.k = i % {len(filler)}
        WHERE i % 5 = 0""", timings=timings)
    # Every article has its entry; 0.2 % more entries are new and not fetched yet.
    _step(con, "entries", f"""
        INSERT INTO entries (entry_id, feed, guid, url, title, summary, published_at, lang, first_seen_at)
        SELECT article_id, feed, 'guid-' || i, url, title, summary, published_at, lang,
               published_at + to_seconds(CAST(60 + u(i, 20) * 900 AS BIGINT))
        FROM (SELECT a.*, 'https://' || feed || '.example/' || strftime(published_at, '%Y/%m/%d') || '/'
                          || article_id || '.html' AS url,
                     t.t[1 + CAST(hash(i, 21) % len(t.t) AS INTEGER)] || ' (' || i || ')' AS title,
                     left(pp.p[1 + CAST(hash(i, 22) % len(pp.p) AS INTEGER)], 300) AS summary
              FROM a, pool_titles t, pool_paragraphs pp)
        UNION ALL
        SELECT left(sha256('pending-' || k), 16), 'outlet-000', 'guid-pending-' || k,
               'https://outlet-000.example/pending/' || k || '.html', 'Pending item ' || k, 'Not fetched yet.',
               TIMESTAMPTZ '{END}' + to_seconds(k), 'en', TIMESTAMPTZ '{END}' + to_seconds(k)
        FROM range({max(1, n // 500)}) r(k)""", timings=timings)
    # Articles: text of 6-20 corpus paragraphs (a few KB; mostly unique); a skipped page keeps the feed summary.
    _step(con, "articles", f"""
        INSERT INTO articles (article_id, url, feed, title, published_at, lang, status, reason, text, extracted_at,
                              fetch_attempts, retry_at)
        SELECT a.article_id, e.url, a.feed, e.title, a.published_at, a.lang, a.status,
               CASE a.status WHEN 'ok' THEN '' WHEN 'paywall' THEN 'paywall marker in page'
                    WHEN 'js_shell' THEN 'page needs JavaScript' WHEN 'too_short' THEN 'fewer than 60 words'
                    ELSE 'fetch failed: ' || a.status END,
               CASE WHEN a.status = 'ok' THEN array_to_string(list_transform(range(6 + CAST(hash(a.i, 30) % 15 AS INTEGER)),
                        x -> pp.p[1 + CAST(hash(a.i, x) % len(pp.p) AS INTEGER)]), chr(10) || chr(10))
                    ELSE e.summary END,
               a.published_at + to_seconds(CAST(120 + u(a.i, 31) * 1800 AS BIGINT)),
               CASE WHEN a.transient THEN 1 + CAST(floor(u(a.i, 32) * 4) AS INTEGER) ELSE 1 END,
               CASE WHEN a.waiting THEN a.published_at + to_minutes(CAST(5 + u(a.i, 33) * 120 AS BIGINT)) END
        FROM a JOIN entries e ON e.entry_id = a.article_id, pool_paragraphs pp
        ORDER BY a.i""", timings=timings)
    # Pages: every fetch that got a response (not timeouts or connection errors); HTML is compressed filler.
    _step(con, "pages", f"""
        INSERT INTO pages (entry_id, url, final_url, http_status, content_type, fetched_at, html_zlib)
        SELECT a.article_id, 'https://' || a.feed || '.example/' || a.article_id, 'https://' || a.feed || '.example/'
               || a.article_id, CASE WHEN a.status LIKE 'http_%' THEN CAST(substr(a.status, 6) AS INTEGER) ELSE 200 END,
               CASE WHEN a.status = 'not_html' THEN 'application/pdf' ELSE 'text/html; charset=utf-8' END,
               a.published_at + INTERVAL 2 MINUTE,
               p.body || unhex(a.article_id)
        FROM a JOIN pool_pages p ON p.k = hash(a.i, 40) % {len(filler)}
        WHERE a.status NOT IN ('timeout', 'connection_error')""", timings=timings)
    # Judgements: every article whose page is final; `relevant_share` of them relevant.
    _step(con, "judgements", f"""
        INSERT INTO judgements (article_id, relevant, score, reason, report, country, intruder, judged_at)
        SELECT article_id, relevant,
               CASE WHEN relevant THEN 0.55 + u(i, 50) * 0.4 ELSE u(i, 50) * 0.5 END,
               CASE WHEN relevant THEN 'topic cue + prototype similarity' ELSE 'below threshold' END,
               relevant AND report,
               CASE WHEN relevant AND u(i, 51) < 0.9 THEN l.states[1 + CAST(floor(len(l.states) * pow(u(i, 52), 2)) AS INTEGER)] END,
               CASE WHEN relevant AND u(i, 53) < 0.8 THEN l.intruders[1 + CAST(floor(len(l.intruders) * pow(u(i, 54), 1.5)) AS INTEGER)] END,
               published_at + INTERVAL 40 MINUTE
        FROM a, pool_labels l WHERE NOT waiting ORDER BY i""", timings=timings)

    # Incidents. Relevant articles in publication order; about 6 % (non-reports: analysis, overviews) join no
    # incident; the rest fill incidents one after another, each of 1-20 members with a long tail:
    # P(size >= k) = k^-2 (mean about 1.6, as in gva-dev: 1,905 articles in 1,191 incidents).
    _step(con, "members (temp)", """
        CREATE TEMP TABLE m AS
        SELECT i, article_id, published_at, feed, report,
               row_number() OVER (ORDER BY published_at, i) - 1 AS rn
        FROM a WHERE relevant AND (report OR u(i, 60) >= 0.4)""", timings=timings)
    n_members = int(con.execute("SELECT count(*) FROM m").fetchone()[0])  # type: ignore[index]
    _step(con, "incident spans (temp)", f"""
        CREATE TEMP TABLE spans AS
        SELECT k, sz, sum(sz) OVER (ORDER BY k ROWS UNBOUNDED PRECEDING) - sz AS start
        FROM (SELECT k, least(20, CAST(floor(pow(1.0 - u(k, 61), -0.5)) AS BIGINT)) AS sz FROM range({max(1, n_members)}) r(k))
        QUALIFY start < {n_members}""", timings=timings)
    _step(con, "membership (temp)", """
        CREATE TEMP TABLE ms AS
        SELECT m.*, s.k, s.start, left(sha256('incident-' || s.k), 16) AS incident_id,
               lag(m.article_id) OVER (PARTITION BY s.k ORDER BY m.rn) AS nearest
        FROM m ASOF JOIN spans s ON m.rn >= s.start""", timings=timings)
    _step(con, "incidents", """
        INSERT INTO incidents (incident_id, title, first_article_id, first_seen_at, country, intruder, created_at,
                               status, merged_into)
        SELECT ms.incident_id, ar.title, ms.article_id, ms.published_at, j.country, j.intruder,
               ms.published_at + INTERVAL 45 MINUTE,
               CASE WHEN u(ms.k, 70) < 0.94 THEN 'open' WHEN u(ms.k, 70) < 0.97 THEN 'dismissed'
                    WHEN u(ms.k, 70) < 0.98 THEN 'known' ELSE 'merged' END,
               CASE WHEN u(ms.k, 70) >= 0.98 AND ms.k > 0 THEN left(sha256('incident-' || (ms.k - 1)), 16) END
        FROM ms JOIN articles ar USING (article_id) JOIN judgements j USING (article_id)
        WHERE ms.rn = ms.start ORDER BY ms.k""", timings=timings)
    terms = json.dumps({w: 1 + (len(w) % 3) for w in " ".join(paragraphs[:6]).lower().split()[:150]})
    _step(con, "incident_articles", """
        INSERT INTO incident_articles (article_id, incident_id, score, nearest_article_id, opened, terms_json,
                                       assigned_at)
        SELECT article_id, incident_id, CASE WHEN rn = start THEN 0.0 ELSE 0.5 + u(i, 80) * 0.45 END, nearest,
               rn = start, ?, published_at + INTERVAL 45 MINUTE
        FROM ms
        UNION ALL
        SELECT article_id, NULL, u(i, 81) * 0.5, NULL, false, ?, published_at + INTERVAL 45 MINUTE
        FROM a WHERE relevant AND NOT report AND u(i, 60) < 0.4""", [terms, terms], timings=timings)

    # Alerts: every non-dismissed, non-merged incident on 'log'; half on e-mail, a fifth on a webhook.
    _step(con, "channels", """
        INSERT INTO channels (name, type, registered_at) VALUES
            ('log', 'log', TIMESTAMPTZ '2024-01-01 00:00:00+00'),
            ('desk-mail', 'email', TIMESTAMPTZ '2024-01-01 00:00:00+00'),
            ('ops-webhook', 'webhook', TIMESTAMPTZ '2024-01-01 00:00:00+00')""", timings=timings)
    _step(con, "alerts", """
        INSERT INTO alerts (alert_id, incident_id, article_id, channel, status, attempts, next_attempt_at, last_error,
                            created_at, sent_at)
        SELECT left(sha256(incident_id || '|' || channel), 16), incident_id, first_article_id, channel,
               st, CASE st WHEN 'sent' THEN 1 + CAST(u(h, 91) < 0.05 AS INTEGER) WHEN 'failed' THEN 8 ELSE 1 END,
               CASE WHEN st = 'pending' THEN created + INTERVAL 10 MINUTE END,
               CASE WHEN st <> 'sent' THEN 'SMTP 451 try again later' END,
               created, CASE WHEN st = 'sent' THEN created + to_seconds(CAST(1 + u(h, 92) * 180 AS BIGINT)) END
        FROM (SELECT i.*, c.channel, hash(i.incident_id, c.channel) AS h,
                     i.created_at + to_seconds(CAST(5 + u(hash(i.incident_id), 93) * 60 AS BIGINT)) AS created,
                     CASE WHEN u(hash(i.incident_id, c.channel), 90) < 0.95 THEN 'sent'
                          WHEN u(hash(i.incident_id, c.channel), 90) < 0.97 THEN 'failed' ELSE 'pending' END AS st
              FROM incidents i, (VALUES ('log', 1.0), ('desk-mail', 0.5), ('ops-webhook', 0.2)) c(channel, share)
              WHERE i.status IN ('open', 'known') AND u(hash(i.incident_id), hash(c.channel)) < c.share)""",
          timings=timings)
    # One digest a day on the e-mail channel.
    _step(con, "digests", f"""
        INSERT INTO digests (digest_id, day, channel, message_id, status, attempts, next_attempt_at, last_error,
                             subject, body_text, body_html, payload_json, created_at, sent_at)
        SELECT left(sha256(day || '|desk-mail'), 16), day, 'desk-mail', '<' || left(sha256(CAST(day AS VARCHAR)), 24)
               || '@newswatch>', 'sent', 1, NULL, NULL, 'newswatch digest ' || day, body, '<html><body><pre>' || body
               || '</pre></body></html>', '{{"text": "digest ' || day || '"}}', day + INTERVAL 7 HOUR,
               day + INTERVAL 7 HOUR + INTERVAL 3 SECOND
        FROM (SELECT CAST(TIMESTAMPTZ '{END}' - INTERVAL {SPAN_DAYS} DAY AS DATE) + CAST(d AS INTEGER) AS day,
                     array_to_string(list_transform(range(10), x -> pp.p[1 + CAST(hash(d, x) % len(pp.p) AS INTEGER)]),
                                     chr(10)) AS body
              FROM range({SPAN_DAYS}) r(d), pool_paragraphs pp)""", timings=timings)
    # Feedback: one row per dismissed / known / merged incident, plus a few mutes.
    _step(con, "feedback", """
        INSERT INTO feedback (feedback_id, action, incident_id, target, details, reason, actor, created_at)
        SELECT left(sha256('fb-' || incident_id), 16),
               CASE status WHEN 'dismissed' THEN 'dismiss' WHEN 'known' THEN 'add' ELSE 'merge' END,
               coalesce(merged_into, incident_id), CASE WHEN status = 'merged' THEN incident_id END,
               '{"articles": []}', 'analyst review', 'analyst-' || CAST(hash(incident_id) % 5 AS VARCHAR),
               created_at + INTERVAL 3 HOUR
        FROM incidents WHERE status <> 'open'
        UNION ALL
        SELECT left(sha256('fb-mute-' || name), 16), 'mute', NULL, name, NULL, 'off topic outlet', 'analyst-0',
               TIMESTAMPTZ '2025-06-01 00:00:00+00'
        FROM feeds WHERE muted""", timings=timings)

    # Embeddings as the cycle stores them: MiniLM for every article whose page is final, e5 for the relevant
    # ones. --vector-fraction < 1 stores MiniLM vectors for that share only (file size; no query reads them).
    _step(con, f"embeddings {E5}", f"""
        INSERT INTO embeddings (article_id, model, vector, embedded_at)
        SELECT article_id, '{E5}', list_transform(range({DIM}), x -> CAST(random() * 0.1 - 0.05 AS FLOAT)),
               published_at + INTERVAL 44 MINUTE
        FROM a WHERE relevant ORDER BY i""", timings=timings)
    _step(con, f"embeddings {MINILM}", f"""
        INSERT INTO embeddings (article_id, model, vector, embedded_at)
        SELECT article_id, '{MINILM}', list_transform(range({DIM}), x -> CAST(random() * 0.1 - 0.05 AS FLOAT)),
               published_at + INTERVAL 30 MINUTE
        FROM a WHERE NOT waiting AND u(i, 100) < {vector_fraction} ORDER BY i""", timings=timings)
    _step(con, "term_stats, counters", f"""
        INSERT INTO term_stats (term, df)
        SELECT 'term' || k, 1 + CAST(floor({n} * 0.05 * pow(u(k, 110), 3)) AS INTEGER) FROM range(60000) r(k);
        INSERT INTO counters (name, value) VALUES ('documents', {n_members})""", timings=timings)
    con.execute("DROP TABLE a; DROP TABLE m; DROP TABLE spans; DROP TABLE ms")
    _step(con, "checkpoint", "CHECKPOINT", timings=timings)
    counts = {t: int(con.execute(f"SELECT count(*) FROM {t}").fetchone()[0])  # type: ignore[index]
              for t in ("feeds", "feed_bodies", "entries", "pages", "articles", "embeddings", "judgements",
                        "incidents", "incident_articles", "alerts", "channels", "digests", "feedback")}
    text_bytes = con.execute("SELECT avg(strlen(text)) FROM articles WHERE status = 'ok'").fetchone()[0]  # type: ignore[index]
    con.close()
    return {"build_s": round(time.perf_counter() - t_start, 1), "steps_s": timings, "rows": counts,
            "avg_text_bytes_ok": round(float(text_bytes or 0)), "migrations": migrated}


# ---------------------------------------------------------------- measure

def _time(con: duckdb.DuckDBPyConnection, sql: str, reps: int) -> dict[str, Any]:
    """One warm-up, then `reps` timed runs. exec_s: the query runs to a materialised result inside DuckDB
    (wall clock); cpu_s: CPU seconds of this process, all DuckDB threads, for the same runs - steadier than the
    wall clock when other work shares the cores;
    fetch_s: the same plus fetchall() into Python rows (what `newswatch sql` does) - reported for results of at
    most 200,000 rows only, since converting a million Python tuples measures Python, not the warehouse."""
    cur = con.execute(sql)
    columns = [d[0] for d in (cur.description or [])]
    rows = cur.fetchall()
    execs, cpus, fetches = [], [], []
    for _ in range(reps):
        t0, c0 = time.perf_counter(), time.process_time()
        con.execute(sql)
        execs.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    if len(rows) <= 200_000:
        for _ in range(reps):
            t0 = time.perf_counter()
            con.execute(sql).fetchall()
            fetches.append(time.perf_counter() - t0)
    return {"columns": columns, "rows": len(rows), "exec_s": round(statistics.median(execs), 4),
            "cpu_s": round(statistics.median(cpus), 4),
            "exec_runs_s": [round(x, 4) for x in execs],
            "fetch_s": round(statistics.median(fetches), 4) if fetches else None}


def measure(path: Path, *, reps: int, threads: int) -> list[dict[str, Any]]:
    """Every documented query, the extra v_incidents queries and each view's full scan, read-only."""
    plan = [(title, sql, "docs/queries.md") for title, sql in read_queries()]
    plan += [(label, sql, "extra") for label, sql in EXTRA_QUERIES]
    plan += [(f"{view}: full scan", f"SELECT * FROM {view}", "view scan") for view in VIEWS]
    con = warehouse.connection.connect(path, read_only=True)
    con.execute(f"SET threads = {int(threads)}")
    results = []
    try:
        for label, sql, kind in plan:
            timing = _time(con, sql, reps)
            results.append({"name": label, "kind": kind, "sql": sql.strip(), **timing})
            fetch = f"{timing['fetch_s']:8.3f}" if timing["fetch_s"] is not None else "       -"
            print(f"  {timing['exec_s']:8.3f} {timing['cpu_s']:7.3f} {fetch} {timing['rows']:>9,}  {label[:80]}",
                  flush=True)
    finally:
        con.close()
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--articles", type=int, default=1_000_000, help="articles in the synthetic warehouse")
    parser.add_argument("--feeds", type=int, default=300, help="feeds (outlets)")
    parser.add_argument("--relevant-share", type=float, default=0.05, help="share of articles judged relevant")
    parser.add_argument("--vector-fraction", type=float, default=1.0,
                        help="share of articles given their MiniLM vector (relevant ones always get their e5 one)")
    parser.add_argument("--html-bytes", type=int, default=1024, help="bytes of compressed-HTML filler per page")
    parser.add_argument("--db", type=Path, default=None, help="warehouse file (default /tmp/newswatch-bench-<N>.duckdb)")
    parser.add_argument("--reuse", action="store_true",
                        help="keep an existing --db (new migrations are applied) instead of rebuilding it")
    parser.add_argument("--reps", type=int, default=3, help="timed runs per query (median reported)")
    parser.add_argument("--threads", type=int, default=2, help="DuckDB threads (at most 2 on the shared machine)")
    parser.add_argument("--memory-limit", default="6GB", help="DuckDB memory_limit while building")
    parser.add_argument("--out", type=Path, default=None,
                        help="results JSON (default benchmarks/results/<date>-warehouse.json)")
    args = parser.parse_args(argv)
    if not 1 <= args.threads <= 2:
        parser.error("--threads must be 1 or 2 on this shared machine")
    if args.reps < 3 and args.articles >= 100_000:
        parser.error("--reps must be at least 3 for a real run")
    db: Path = args.db or Path(f"/tmp/newswatch-bench-{args.articles}.duckdb")
    out: Path = args.out or ROOT / "benchmarks" / "results" / f"{dt.date.today().isoformat()}-warehouse.json"

    if args.reuse and db.exists():
        warehouse.connection.connect(db).close()  # applies any migration newer than the file
        built: dict[str, Any] = {"reused": True}
        print(f"reusing {db}", flush=True)
    else:
        for stale in warehouse.paths.database_files(db):
            stale.unlink(missing_ok=True)
        built = build(db, articles=args.articles, feeds=args.feeds, relevant_share=args.relevant_share,
                      vector_fraction=args.vector_fraction, html_bytes=args.html_bytes, threads=args.threads,
                      memory_limit=args.memory_limit)
        print(f"built in {built['build_s']} s", flush=True)
    size_mb = db.stat().st_size / 1e6
    print(f"file: {db} {size_mb:,.0f} MB\n    exec_s   cpu_s  fetch_s      rows  query", flush=True)
    load_before = os.getloadavg()
    results = measure(db, reps=args.reps, threads=args.threads)
    load_after = os.getloadavg()
    # The goal is on the warehouse's answer (exec_s); fetch_s adds Python's conversion of the rows, listed apart.
    slow = [r["name"] for r in results if r["exec_s"] > 1.0]
    slow_fetch = [r["name"] for r in results if (r["fetch_s"] or 0) > 1.0]
    report = {
        "date": dt.date.today().isoformat(), "articles": args.articles, "feeds": args.feeds,
        "relevant_share": args.relevant_share, "vector_fraction": args.vector_fraction, "html_bytes": args.html_bytes,
        "threads": args.threads, "reps": args.reps, "duckdb": duckdb.__version__, "db": str(db),
        "file_mb": round(size_mb, 1),
        "load_average_1_5_15": {"before": [round(x, 2) for x in load_before],
                                "after": [round(x, 2) for x in load_after]}, "build": built, "queries": results, "over_1s": slow,
        "fetch_over_1s": slow_fetch,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"over 1 s: {slow or 'none'}; with fetchall over 1 s: {slow_fetch or 'none'}\nwrote {out}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

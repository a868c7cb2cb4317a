-- Views that stay fast at a million articles (benchmarks/bench_warehouse.py, benchmarks/PERFORMANCE.md).
-- Same rows and columns as before; v_articles gains one column at the end.

-- v_incidents read `articles` twice (once for the first report's URL, once for the members); at 1M articles
-- each read is a scan of every article_id. Now the first reports and the members are looked up in one scan.
-- Meaning unchanged: an incident whose first article is missing is left out (the old inner join);
-- article_count counts incident_articles rows (also those whose article row is missing, as count(ia.article_id)
-- did); last_seen_at and source_count come from the members' article rows.
CREATE OR REPLACE VIEW v_incidents AS
WITH live AS (
    SELECT incident_id, title, first_article_id, first_seen_at, country, intruder, status
    FROM incidents WHERE status <> 'merged'
), wanted AS (
    SELECT incident_id, first_article_id AS article_id, true AS is_first, false AS is_member FROM live
    UNION ALL
    SELECT ia.incident_id, ia.article_id, false, true FROM incident_articles ia SEMI JOIN live USING (incident_id)
), facts AS (
    SELECT w.incident_id,
           max(a.published_at) FILTER (WHERE w.is_member) AS last_seen_at,
           count(DISTINCT a.feed) FILTER (WHERE w.is_member) AS source_count,
           any_value(a.url) FILTER (WHERE w.is_first) AS first_article_url
    FROM wanted w JOIN articles a USING (article_id)
    GROUP BY w.incident_id
), members AS (
    SELECT incident_id, count(*) AS article_count FROM incident_articles GROUP BY incident_id
)
SELECT i.incident_id, i.title, i.first_seen_at, f.last_seen_at, f.first_article_url,
       coalesce(m.article_count, 0) AS article_count, f.source_count, i.country, i.intruder, i.status
FROM live i
JOIN facts f USING (incident_id)
LEFT JOIN members m USING (incident_id)
WHERE f.first_article_url IS NOT NULL;

-- published_day: the publication day in UTC, by arithmetic on the epoch. `CAST(published_at AS DATE)` goes
-- through the time-zone library row by row (about 0.4 s of two cores per million articles, measured); this
-- column costs nothing measurable. It equals that cast in a UTC session (newswatch sets TimeZone = 'UTC').
CREATE OR REPLACE VIEW v_articles AS
SELECT a.url, a.feed, a.title, a.published_at, a.lang, a.status, j.relevant, ia.incident_id,
       a.article_id, a.reason, j.score AS relevance_score, j.country, j.intruder, ia.opened AS opened_incident,
       CAST(make_timestamp(epoch_us(a.published_at)) AS DATE) AS published_day
FROM articles a
LEFT JOIN judgements j USING (article_id)
LEFT JOIN incident_articles ia USING (article_id);

-- v_stream: one row, the extent of the article stream. `SELECT max(published_at) FROM v_articles` pays for
-- v_articles' two joins over every article (DuckDB 1.5 does not drop an unused LEFT JOIN on a primary key);
-- this reads the articles table alone. v_articles has exactly one row per article, so the numbers are the same.
CREATE OR REPLACE VIEW v_stream AS
SELECT min(published_at) AS first_published_at, max(published_at) AS last_published_at, count(*) AS articles
FROM articles;

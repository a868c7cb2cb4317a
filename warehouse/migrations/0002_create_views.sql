-- Public, documented views (docs/warehouse.md). Columns may be added, never removed or renamed.

CREATE OR REPLACE VIEW v_articles AS
SELECT a.url, a.feed, a.title, a.published_at, a.lang, a.status, j.relevant, ia.incident_id,
       a.article_id, a.reason, j.score AS relevance_score, j.country, j.intruder, ia.opened AS opened_incident
FROM articles a
LEFT JOIN judgements j USING (article_id)
LEFT JOIN incident_articles ia USING (article_id);

CREATE OR REPLACE VIEW v_incidents AS
SELECT i.incident_id, i.title, i.first_seen_at,
       max(a.published_at) AS last_seen_at,
       fa.url AS first_article_url,
       count(ia.article_id) AS article_count,
       count(DISTINCT a.feed) AS source_count,
       i.country, i.intruder
FROM incidents i
JOIN articles fa ON fa.article_id = i.first_article_id
LEFT JOIN incident_articles ia ON ia.incident_id = i.incident_id
LEFT JOIN articles a ON a.article_id = ia.article_id
GROUP BY ALL;

CREATE OR REPLACE VIEW v_alerts AS
SELECT al.alert_id, al.incident_id, a.url AS article_url, al.channel, al.status, al.created_at, al.sent_at,
       al.attempts, al.last_error
FROM alerts al
JOIN articles a ON a.article_id = al.article_id;

CREATE OR REPLACE VIEW v_feed_health AS
SELECT f.name AS feed, f.url, f.last_polled_at, f.last_status, f.consecutive_failures, f.last_error,
       (SELECT count(*) FROM entries e WHERE e.feed = f.name) AS items_total,
       f.last_success_at
FROM feeds f;

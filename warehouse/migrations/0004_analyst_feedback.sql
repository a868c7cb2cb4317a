-- Analyst feedback: dismiss, merge, split, known incidents, muted feeds; every action recorded (who/when/why).

CREATE TABLE feedback (
    feedback_id VARCHAR PRIMARY KEY,
    action      VARCHAR NOT NULL,       -- 'dismiss' | 'merge' | 'split' | 'add' | 'mute' | 'unmute'
    incident_id VARCHAR,                -- the incident acted on (merge: the one kept)
    target      VARCHAR,                -- merge: the incident folded in; split: the new incident; mute: the feed
    details     VARCHAR,                -- JSON: article ids moved, fields given
    reason      VARCHAR,
    actor       VARCHAR NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);

-- 'open' (alerts as usual), 'dismissed' (not an incident of the topic: no alert, not in digests, its articles
-- still join it so they never open a new one), 'merged' (folded into merged_into), 'known' (registered by an
-- analyst or split off: never alerts).
ALTER TABLE incidents ADD COLUMN status VARCHAR DEFAULT 'open';
ALTER TABLE incidents ADD COLUMN merged_into VARCHAR;
ALTER TABLE feeds ADD COLUMN muted BOOLEAN DEFAULT false;

CREATE OR REPLACE VIEW v_incidents AS
SELECT i.incident_id, i.title, i.first_seen_at,
       max(a.published_at) AS last_seen_at,
       fa.url AS first_article_url,
       count(ia.article_id) AS article_count,
       count(DISTINCT a.feed) AS source_count,
       i.country, i.intruder, i.status
FROM incidents i
JOIN articles fa ON fa.article_id = i.first_article_id
LEFT JOIN incident_articles ia ON ia.incident_id = i.incident_id
LEFT JOIN articles a ON a.article_id = ia.article_id
WHERE i.status <> 'merged'
GROUP BY ALL;

CREATE OR REPLACE VIEW v_feedback AS
SELECT created_at, actor, action, incident_id, target, reason, details FROM feedback;

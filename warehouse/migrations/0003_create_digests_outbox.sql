-- The outbox, part two: one daily digest per day and channel (rendered once, so a retry sends the same
-- message), and v_alerts/v_digests showing when the next delivery attempt is due.
-- Alerts keep their 0001 table: alert_id (hash of incident and channel) is the idempotency key and the
-- e-mail Message-ID is derived from it (pipeline/outbox.py), so neither needs a column.

CREATE TABLE digests (
    digest_id       VARCHAR PRIMARY KEY,   -- stable: hash(day, channel); idempotency key
    day             DATE NOT NULL,         -- digest day in digest.timezone
    channel         VARCHAR NOT NULL,
    message_id      VARCHAR NOT NULL,      -- e-mail Message-ID, the same on every attempt
    status          VARCHAR NOT NULL,      -- 'pending' | 'sent' | 'failed'
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ,           -- NULL: due now
    last_error      VARCHAR,
    subject         VARCHAR NOT NULL,
    body_text       VARCHAR NOT NULL,
    body_html       VARCHAR NOT NULL,
    payload_json    VARCHAR NOT NULL,      -- webhook body
    created_at      TIMESTAMPTZ NOT NULL,
    sent_at         TIMESTAMPTZ,
    UNIQUE (day, channel)
);

CREATE OR REPLACE VIEW v_alerts AS
SELECT al.alert_id, al.incident_id, a.url AS article_url, al.channel, al.status, al.created_at, al.sent_at,
       al.attempts, al.last_error, al.next_attempt_at
FROM alerts al
JOIN articles a ON a.article_id = al.article_id;

CREATE OR REPLACE VIEW v_digests AS
SELECT digest_id, day, channel, status, attempts, next_attempt_at, last_error, subject, created_at, sent_at,
       message_id
FROM digests;

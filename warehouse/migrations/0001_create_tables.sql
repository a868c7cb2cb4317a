-- Core tables. Stages meet only here: feeds -> entries -> pages/articles -> embeddings -> judgements
-- -> incident_articles/incidents -> alerts. Raw bodies are zlib-compressed for replay.

CREATE TABLE feeds (
    name                 VARCHAR PRIMARY KEY,
    url                  VARCHAR NOT NULL,
    etag                 VARCHAR,
    last_modified        VARCHAR,
    last_polled_at       TIMESTAMPTZ,
    last_status          VARCHAR,          -- 'ok', 'not_modified', or the failure reason (e.g. 'http_404', 'timeout')
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    last_error           VARCHAR,
    last_success_at      TIMESTAMPTZ,
    next_poll_at         TIMESTAMPTZ
);

CREATE TABLE feed_bodies (
    feed         VARCHAR NOT NULL,
    sha256       VARCHAR NOT NULL,
    fetched_at   TIMESTAMPTZ NOT NULL,
    content_type VARCHAR,
    body_zlib    BLOB NOT NULL,
    PRIMARY KEY (feed, sha256)
);

CREATE TABLE entries (
    entry_id      VARCHAR PRIMARY KEY,     -- hash of the canonical URL (or feed + guid)
    feed          VARCHAR NOT NULL,
    guid          VARCHAR NOT NULL,
    url           VARCHAR NOT NULL,
    title         VARCHAR NOT NULL,
    summary       VARCHAR NOT NULL,
    published_at  TIMESTAMPTZ,
    lang          VARCHAR,
    first_seen_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE pages (
    entry_id     VARCHAR PRIMARY KEY,
    url          VARCHAR NOT NULL,
    final_url    VARCHAR,
    http_status  INTEGER,
    content_type VARCHAR,
    fetched_at   TIMESTAMPTZ NOT NULL,
    html_zlib    BLOB
);

CREATE TABLE articles (
    article_id   VARCHAR PRIMARY KEY,      -- = entries.entry_id
    url          VARCHAR NOT NULL,
    feed         VARCHAR NOT NULL,
    title        VARCHAR NOT NULL,
    published_at TIMESTAMPTZ NOT NULL,     -- feed date, else page date, else first seen
    lang         VARCHAR,
    status       VARCHAR NOT NULL,         -- 'ok' or why the page was skipped ('http_404', 'paywall', 'js_shell', ...)
    reason       VARCHAR NOT NULL,
    text         VARCHAR NOT NULL,         -- extracted text; for skipped pages the feed summary
    extracted_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE embeddings (                 -- one vector per article and model (relevance model: every
    article_id  VARCHAR NOT NULL,         -- article; clustering model: relevant articles)
    model       VARCHAR NOT NULL,
    vector      FLOAT[] NOT NULL,
    embedded_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (article_id, model)
);

CREATE TABLE judgements (
    article_id VARCHAR PRIMARY KEY,
    relevant   BOOLEAN NOT NULL,
    score      DOUBLE NOT NULL,
    reason     VARCHAR NOT NULL,
    report     BOOLEAN NOT NULL,           -- reads as a report of one incident (may open one and alert)
    country    VARCHAR,
    intruder   VARCHAR,
    judged_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE incidents (
    incident_id      VARCHAR PRIMARY KEY,
    title            VARCHAR NOT NULL,
    first_article_id VARCHAR NOT NULL,
    first_seen_at    TIMESTAMPTZ NOT NULL,
    country          VARCHAR,
    intruder         VARCHAR,
    created_at       TIMESTAMPTZ NOT NULL
);

CREATE TABLE incident_articles (
    article_id         VARCHAR PRIMARY KEY,
    incident_id        VARCHAR,            -- NULL: a non-report (analysis, overview) that matched no incident
    score              DOUBLE NOT NULL,
    nearest_article_id VARCHAR,
    opened             BOOLEAN NOT NULL,
    terms_json         VARCHAR NOT NULL,
    assigned_at        TIMESTAMPTZ NOT NULL
);

CREATE TABLE term_stats (
    term VARCHAR PRIMARY KEY,
    df   INTEGER NOT NULL
);

CREATE TABLE counters (
    name  VARCHAR PRIMARY KEY,
    value BIGINT NOT NULL
);

CREATE TABLE alerts (
    alert_id        VARCHAR PRIMARY KEY,   -- stable: hash(incident_id, channel); doubles as idempotency key
    incident_id     VARCHAR NOT NULL,
    article_id      VARCHAR NOT NULL,
    channel         VARCHAR NOT NULL,
    status          VARCHAR NOT NULL,      -- 'pending' | 'sent' | 'failed'
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ,
    last_error      VARCHAR,
    created_at      TIMESTAMPTZ NOT NULL,
    sent_at         TIMESTAMPTZ,
    UNIQUE (incident_id, channel)
);

-- Feeds added without editing files (`newswatch feeds add` / `import-opml`). Every cycle polls them beside the
-- configured [[feeds]] (a configured feed of the same name wins), so a running `newswatch serve` picks a change
-- up at its next cycle. Removing one deletes its row here; its poll history stays in `feeds` (v_feed_health).
CREATE TABLE feed_subscriptions (
    name     VARCHAR PRIMARY KEY,
    url      VARCHAR NOT NULL UNIQUE,
    title    VARCHAR,
    category VARCHAR,              -- the OPML folder it came from, 'News/Europe'
    added_at TIMESTAMPTZ NOT NULL,
    added_by VARCHAR NOT NULL
);

-- Alert channels as the warehouse first saw them: a channel added later alerts only incidents opened after it
-- was registered (it does not replay the whole history into a new inbox).
CREATE TABLE channels (
    name          VARCHAR PRIMARY KEY,
    type          VARCHAR NOT NULL,
    registered_at TIMESTAMPTZ NOT NULL
);
-- Channels that alerted before this table existed count as registered from the beginning.
INSERT INTO channels SELECT channel, 'unknown', TIMESTAMPTZ '1970-01-01 00:00:00+00' FROM alerts GROUP BY channel;

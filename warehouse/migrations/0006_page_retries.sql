-- Pages that failed with a transient error (timeout, connection error, 5xx, 429) are fetched again:
-- fetch_attempts counts tries; retry_at is when the next one is due (NULL: final, later stages may use the row).
ALTER TABLE articles ADD COLUMN fetch_attempts INTEGER DEFAULT 1;
ALTER TABLE articles ADD COLUMN retry_at TIMESTAMPTZ;

-- One row per monitor cycle: when it ran, how long, its outcome (ok / degraded / down, pipeline/health.py) and
-- what it did. `newswatch status` reads the newest one.
CREATE TABLE cycles (
    cycle_id VARCHAR PRIMARY KEY,
    started_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ NOT NULL,
    outcome VARCHAR NOT NULL,
    failed_stage VARCHAR,
    error VARCHAR,
    feeds_due INTEGER NOT NULL DEFAULT 0,
    feeds_ok INTEGER NOT NULL DEFAULT 0,
    feeds_not_modified INTEGER NOT NULL DEFAULT 0,
    feeds_failed INTEGER NOT NULL DEFAULT 0,
    feeds_muted INTEGER NOT NULL DEFAULT 0,
    feeds_backing_off INTEGER NOT NULL DEFAULT 0,
    new_entries INTEGER NOT NULL DEFAULT 0,
    articles INTEGER NOT NULL DEFAULT 0,
    relevant INTEGER NOT NULL DEFAULT 0,
    incidents_opened INTEGER NOT NULL DEFAULT 0,
    alerts INTEGER NOT NULL DEFAULT 0
);

CREATE VIEW v_cycles AS
SELECT cycle_id, started_at, finished_at, epoch(finished_at) - epoch(started_at) AS duration_seconds, outcome,
       failed_stage, error, feeds_due, feeds_ok, feeds_not_modified, feeds_failed, feeds_muted, feeds_backing_off,
       new_entries, articles, relevant, incidents_opened, alerts
FROM cycles;

-- events: product events (POST /api/v1/events); ts in ms, day = ts / 86400000 (UTC).
CREATE TABLE events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    ts          INTEGER NOT NULL,
    name        TEXT    NOT NULL,
    user_id     TEXT    NOT NULL,
    props       TEXT    NOT NULL,
    received_at INTEGER NOT NULL
);
CREATE INDEX events_name_ts ON events (name, ts);
CREATE INDEX events_ts ON events (ts);

-- metric_history: one row per [[history.series]] output series per history.interval.
CREATE TABLE metric_history (
    name   TEXT    NOT NULL,
    labels TEXT    NOT NULL,
    ts     INTEGER NOT NULL,
    value  REAL NOT NULL
);
CREATE INDEX metric_history_name_ts ON metric_history (name, ts);

-- job_runs: every run of a report job. (job, scheduled_for) is unique: of several sidecars
-- sharing the database, the one whose insert wins runs that occurrence.
CREATE TABLE job_runs (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    job           TEXT    NOT NULL,
    scheduled_for INTEGER NOT NULL,
    started_at    INTEGER NOT NULL,
    ended_at      INTEGER,
    status        TEXT    NOT NULL,
    runner        TEXT    NOT NULL,
    outputs       TEXT    NOT NULL DEFAULT '[]',
    error         TEXT,
    UNIQUE (job, scheduled_for)
);

-- report_drafts: one digest draft per anchor date (unless duplicates are allowed).
CREATE TABLE report_drafts (
    kind       TEXT    NOT NULL,
    draft_key  TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    path       TEXT    NOT NULL,
    PRIMARY KEY (kind, draft_key)
);

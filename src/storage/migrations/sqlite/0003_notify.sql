-- outbox: every notification is a row before it is a request. One row per receiver channel
-- ("target"); the delivery worker claims due rows, sends them and records the outcome.
CREATE TABLE outbox (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    receiver         TEXT    NOT NULL,
    channel          TEXT    NOT NULL,
    target           TEXT    NOT NULL,
    group_key        TEXT    NOT NULL,
    alert_names      TEXT    NOT NULL,
    kind             TEXT    NOT NULL,
    payload          TEXT    NOT NULL,
    payload_hash     TEXT    NOT NULL,
    status           TEXT    NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL,
    last_http_status INTEGER,
    error_text       TEXT,
    created_at       INTEGER NOT NULL,
    sent_at          INTEGER,
    claimed_by       TEXT,
    claimed_at       INTEGER
);
CREATE INDEX outbox_due ON outbox (target, status, next_attempt_at);
CREATE INDEX outbox_created ON outbox (created_at);
CREATE INDEX outbox_hash ON outbox (payload_hash, created_at);

-- silences: matchers that mute alerts between starts_at and ends_at (ms).
CREATE TABLE silences (
    id         TEXT    PRIMARY KEY,
    matchers   TEXT    NOT NULL,
    starts_at  INTEGER NOT NULL,
    ends_at    INTEGER NOT NULL,
    created_by TEXT    NOT NULL,
    comment    TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

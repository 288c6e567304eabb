-- meta: key/value facts about this database (schema_version, instance_id).
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- audit_log: who did what, when, through which request.
CREATE TABLE audit_log (
    id         BIGSERIAL PRIMARY KEY,
    ts_ms      BIGINT NOT NULL,
    actor      TEXT   NOT NULL,
    action     TEXT   NOT NULL,
    target     TEXT   NOT NULL DEFAULT '',
    detail     TEXT   NOT NULL DEFAULT '',
    request_id TEXT
);
CREATE INDEX audit_log_ts ON audit_log (ts_ms);
CREATE INDEX audit_log_action_ts ON audit_log (action, ts_ms);

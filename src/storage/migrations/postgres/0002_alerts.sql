-- alert_state: the pending and firing (and recently resolved) alerts of every alerting rule,
-- rewritten per rule group, so a restart restores them.
CREATE TABLE alert_state (
    fingerprint       TEXT    NOT NULL,
    group_key         TEXT    NOT NULL,
    rule              TEXT    NOT NULL,
    labels            TEXT    NOT NULL,
    annotations       TEXT    NOT NULL,
    state             TEXT    NOT NULL,
    active_at         BIGINT NOT NULL,
    fired_at          BIGINT,
    resolved_at       BIGINT,
    keep_firing_since BIGINT,
    value             TEXT    NOT NULL,
    updated_at        BIGINT NOT NULL,
    PRIMARY KEY (group_key, rule, fingerprint)
);

-- alert_history: every state change (pending, firing, resolved), for MTTD/MTTR and digests.
CREATE TABLE alert_history (
    id          BIGSERIAL PRIMARY KEY,
    fingerprint TEXT    NOT NULL,
    rule        TEXT    NOT NULL,
    labels      TEXT    NOT NULL,
    from_state  TEXT    NOT NULL,
    to_state    TEXT    NOT NULL,
    value       TEXT    NOT NULL,
    at          BIGINT NOT NULL
);
CREATE INDEX alert_history_at ON alert_history (at);
CREATE INDEX alert_history_rule_at ON alert_history (rule, at);

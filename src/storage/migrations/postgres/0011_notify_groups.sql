-- The last notification queued per channel and aggregation group: the lease that makes N
-- replicas on one database queue one notification per group change (whichever is first).
CREATE TABLE notify_groups (
    target    TEXT NOT NULL,
    group_key TEXT NOT NULL,
    last_hash TEXT NOT NULL,
    last_at   BIGINT NOT NULL,
    PRIMARY KEY (target, group_key)
);

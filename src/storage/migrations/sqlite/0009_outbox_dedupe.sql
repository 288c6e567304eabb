-- A notification queued twice for the same channel, group, payload and time (an enqueue
-- retried after a storage error whose first attempt had in fact committed) is one row.
ALTER TABLE outbox ADD COLUMN dedupe_key TEXT;
CREATE UNIQUE INDEX outbox_dedupe ON outbox (dedupe_key);

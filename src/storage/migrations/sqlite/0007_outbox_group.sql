-- The cooldown compares a notification with the last one queued for its channel and group.
CREATE INDEX outbox_group_last ON outbox (target, group_key, created_at);

-- events.day: the UTC day (ts / 86400000), stored so daily group-bys and cohort queries run
-- on covering indexes instead of sorting every event.
ALTER TABLE events ADD COLUMN day BIGINT NOT NULL DEFAULT 0;
UPDATE events SET day = ts / 86400000;
CREATE INDEX events_day_name_user ON events (day, name, user_id);
CREATE INDEX events_day_user ON events (day, user_id);
CREATE INDEX events_user_day ON events (user_id, day);

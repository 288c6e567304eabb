-- event_users: the first UTC day each user was seen, kept at ingest (one upsert per user per
-- batch), so cohort retention reads one row per user instead of grouping every event.
CREATE TABLE event_users (
    user_id   TEXT   NOT NULL PRIMARY KEY,
    first_day BIGINT NOT NULL
);
INSERT INTO event_users (user_id, first_day) SELECT user_id, MIN(day) FROM events GROUP BY user_id;
CREATE INDEX event_users_first_day ON event_users (first_day);

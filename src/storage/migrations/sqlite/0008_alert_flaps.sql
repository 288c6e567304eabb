-- The times (ms) of an alert's recent fire and resolve transitions, comma-separated, so flap
-- damping survives a restart.
ALTER TABLE alert_state ADD COLUMN flap_times TEXT NOT NULL DEFAULT '';

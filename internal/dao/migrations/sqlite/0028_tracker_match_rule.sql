-- 0028_tracker_match_rule: the rule of keyword matching by which a tracker
-- was last queued to be applied to every conversation (see the MySQL
-- migration of the same number).

ALTER TABLE trackers ADD COLUMN match_rule INTEGER NOT NULL DEFAULT 0;
CREATE INDEX IF NOT EXISTS idx_trackers_match_rule ON trackers (match_rule);

-- 0028_tracker_match_rule: the rule of keyword matching by which a tracker
-- was last queued to be applied to every conversation of its tenant
-- (model.TrackerMatchRule). Rule 2 matches Chinese as search does, never
-- across punctuation or spaces (好用 no longer hits 很好，用户), and a number
-- whole (3 no longer hits 3.5%); hits stored before were found by rule 1.
-- Trackers from before this migration have 0. The service, when it starts,
-- raises each tracker below its rule under the tracker's row lock and
-- queues the tracker's application once, in the transaction whose raise
-- changed the row (so instances starting at once queue it once), as a job
-- of a kind that only versions of that rule claim. That is not an UPDATE
-- here because migrations carry DDL only (no DML). The key finds the trackers
-- left to raise without reading the others (InnoDB appends the primary
-- key, so they come in id order). Adding a column at the end and adding
-- an index are both online on MariaDB.

ALTER TABLE trackers
  ADD COLUMN match_rule INT NOT NULL DEFAULT 0 COMMENT 'rule of keyword matching it was last queued to be applied to every conversation by; below the service''s, it is applied again once; 0: before 0028',
  ADD KEY idx_trackers_match_rule (match_rule);

-- 0016_erasure_bound: an erasure deletes only conversations that existed
-- when it was requested. conversations_up_to is the tenant's highest
-- conversation id at the request (ids only grow), read in one transaction
-- with the count of the person's conversations up to it; the job counts,
-- is confirmed for and deletes only those. A conversation ingested later is
-- not the job's: a later request erases it. conversations_total is what the
-- job may delete: matches up to the bound can still grow (a transcript
-- replaced so that the person now speaks in an older conversation); the job
-- counts again when it reaches the total, and goes back to
-- awaiting_confirmation when the new total is over privacy.confirm_over.
--
-- Jobs started before this migration have NULL. The service gives one that
-- is not finished the tenant's highest conversation id the first time it
-- takes the job up after the upgrade (the runner's claim, or a
-- confirmation), before it counts or deletes anything: the job keeps
-- deleting what it would have, but nothing ingested from then on. That is
-- not an UPDATE here because the reviewed DDL carries no DML (goInception
-- refuses DDL and DML of one table in one work order). Finished jobs keep
-- NULL.

ALTER TABLE privacy_erasures
  MODIFY COLUMN conversations_total INT NOT NULL DEFAULT 0 COMMENT 'conversations it may delete: counted up to conversations_up_to when requested, counted again when more match',
  ADD COLUMN conversations_up_to BIGINT NULL DEFAULT NULL COMMENT 'the tenant''s highest conversations.id when the job was requested: it deletes none above; NULL: a job from before 0016 not taken up since';

-- 0016_erasure_bound: the tenant's highest conversation id when an erasure
-- was requested; the job deletes none above it. NULL for jobs from before
-- this migration: the service fixes the bound of an unfinished one when it
-- first takes it up (see the MySQL migration of the same number).

ALTER TABLE privacy_erasures ADD COLUMN conversations_up_to INTEGER NULL DEFAULT NULL;

-- 0023_outbox_failures: a job's failed attempts in a row, which its retry
-- delay grows with (see the MySQL migration of the same number).

ALTER TABLE outbox ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;

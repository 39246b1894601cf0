-- 0023_outbox_failures: a job's retry delay grows with its failures in a
-- row, no longer with its claims. attempts counts claims (each claim's
-- count is its token); a long tracker job is claimed once per turn, so a
-- single failure after many turns waited the longest delay. Adding a
-- column at the end and changing a comment are both instant on MariaDB.

ALTER TABLE outbox
  MODIFY COLUMN attempts INT NOT NULL DEFAULT 0 COMMENT 'claims so far; a claim acts on the job only while the count is still its own',
  ADD COLUMN failures INT NOT NULL DEFAULT 0 COMMENT 'failed attempts in a row; the retry delay grows with them; 0 after a turn handed back';

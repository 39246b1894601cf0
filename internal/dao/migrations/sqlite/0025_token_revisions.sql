-- 0025_token_revisions: the revision of each token version raise, taken
-- from a one-row sequence in the raising transaction, and an index of
-- comments by author (see the MySQL migration of the same number).

CREATE TABLE IF NOT EXISTS token_version_seq (
  id            INTEGER PRIMARY KEY,
  last_revision INTEGER NOT NULL DEFAULT 0
);

ALTER TABLE token_versions ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;
CREATE INDEX IF NOT EXISTS idx_token_versions_revision ON token_versions (revision);

CREATE INDEX IF NOT EXISTS idx_comments_author ON comments (tenant_id, author_user_id);

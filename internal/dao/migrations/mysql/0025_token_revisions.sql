-- 0025_token_revisions: token version raises are numbered, so that
-- instances read them by number rather than by time. Each raise takes the
-- next revision from the one row of token_version_seq, which its
-- transaction locks and raises and holds until it ends: revisions are
-- handed out in commit order, so once an instance reads revision N, every
-- revision below N has committed too, and a poll resuming after N misses
-- none, whatever the clocks of the instances that wrote them. Rows raised
-- by a release before this one keep revision 0 (or the one they had); the
-- polls of this release also read them by changed_at (see
-- identity.Revocations). The row of token_version_seq is created by the
-- first raise.
--
-- Comments get an index on their author: an erasure anonymises a user's
-- comments (UPDATE ... WHERE tenant_id AND author_user_id) and counts
-- them, and without it the UPDATE scans, and locks, every comment of the
-- tenant. Adding a column at the end and adding an index are both online
-- on MariaDB.

CREATE TABLE token_version_seq (
  id            TINYINT NOT NULL DEFAULT 1 COMMENT 'always 1: the table has one row',
  last_revision BIGINT  NOT NULL DEFAULT 0 COMMENT 'revision of the newest token version raise',
  PRIMARY KEY (id)
) ENGINE=InnoDB COMMENT='revision sequence of token version raises: a raising transaction locks and raises it, so revisions follow commit order';

ALTER TABLE token_versions
  ADD COLUMN revision BIGINT NOT NULL DEFAULT 0 COMMENT 'token_version_seq.last_revision taken by the last raise; instances poll by it; 0: raised by a release before 0025',
  ADD KEY idx_token_versions_revision (revision);

ALTER TABLE comments
  ADD KEY idx_comments_author (tenant_id, author_user_id);

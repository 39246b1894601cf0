-- 0026_erasure_redactions: an erasure by email or phone, or of a user,
-- writes [erased] wherever free text of the tenant writes the person's
-- address or number, and counts what it rewrote: the conversations (their
-- titles, custom data, transcripts, comments, the names of speakers who are
-- not users) and the deals (their names and account names). The counts are
-- raised with the lease renewal that commits each batch; a job resumed reads
-- on from where it stopped, and what was redacted holds no mention any more, so
-- nothing is counted twice. mentions_after is the last conversation the
-- job has read, and mentions_since when it began reading: a job taken over
-- after a kill or an upgrade goes on from there, and its second reading,
-- of what changed since mentions_since, covers what was written meanwhile.
-- Jobs from before this migration have 0 and NULL.

ALTER TABLE privacy_erasures
  ADD COLUMN conversations_redacted BIGINT NOT NULL DEFAULT 0 COMMENT 'conversations whose free text had the person''s email or phone, rewritten',
  ADD COLUMN deals_redacted BIGINT NOT NULL DEFAULT 0 COMMENT 'deals whose name or account name had the person''s email or phone, rewritten',
  ADD COLUMN mentions_after BIGINT NOT NULL DEFAULT 0 COMMENT 'the last conversations.id read for mentions of the person',
  ADD COLUMN mentions_since DATETIME(3) NULL DEFAULT NULL COMMENT 'when the job began reading for mentions (UTC, less 10 s for the clocks of other instances); NULL: not yet';

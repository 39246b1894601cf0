-- 0026_erasure_redactions: an erasure by email or phone, or of a user,
-- writes [erased] wherever free text of the tenant writes the person's
-- address or number, and counts what it rewrote: the conversations (their
-- titles, custom data, transcripts, comments, the names of speakers who are
-- not users) and the deals (their names and account names). The counts are
-- raised with the lease renewal that commits each batch; a job resumed reads
-- from the start again, and what was redacted holds no mention any more, so
-- nothing is counted twice. Jobs from before this migration have 0.

ALTER TABLE privacy_erasures
  ADD COLUMN conversations_redacted BIGINT NOT NULL DEFAULT 0 COMMENT 'conversations whose free text had the person''s email or phone, rewritten',
  ADD COLUMN deals_redacted BIGINT NOT NULL DEFAULT 0 COMMENT 'deals whose name or account name had the person''s email or phone, rewritten';

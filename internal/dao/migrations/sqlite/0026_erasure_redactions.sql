-- 0026_erasure_redactions: the conversations and deals an erasure rewrote
-- where free text wrote the person's email or phone, and where its reading
-- for them stands (see the MySQL migration of the same number).

ALTER TABLE privacy_erasures ADD COLUMN conversations_redacted INTEGER NOT NULL DEFAULT 0;
ALTER TABLE privacy_erasures ADD COLUMN deals_redacted INTEGER NOT NULL DEFAULT 0;
ALTER TABLE privacy_erasures ADD COLUMN mentions_after INTEGER NOT NULL DEFAULT 0;
ALTER TABLE privacy_erasures ADD COLUMN mentions_since DATETIME NULL DEFAULT NULL;

-- 0019_origin_ids_exact: partners' ids compared byte for byte.
-- A partner's ids are opaque: "U1" and "u1", "Ä-2" and "a-2", "x3" and
-- "x3 " are different users, departments, deals and conversations. As
-- VARCHAR under the database's utf8mb4_unicode_ci they were one key, so an
-- upsert of one overwrote the other here while the embedded SQLite (which
-- compares bytes) kept both. As VARBINARY they compare byte for byte, with
-- no collation and no padding, as on SQLite. The service stores them as
-- UTF-8 of at most 128 characters: 512 bytes. Existing rows keep their
-- bytes; ids unique under the collation are unique as bytes. Type changes
-- are not in-place DDL: each statement rebuilds its table.

ALTER TABLE departments
  MODIFY COLUMN origin_department_id VARBINARY(512) NULL DEFAULT NULL COMMENT 'id in the partner''s system (UTF-8), compared byte for byte';

ALTER TABLE users
  MODIFY COLUMN origin_user_id VARBINARY(512) NULL DEFAULT NULL COMMENT 'id in the partner''s system (UTF-8), compared byte for byte';

ALTER TABLE deals
  MODIFY COLUMN origin_deal_id VARBINARY(512) NOT NULL DEFAULT '' COMMENT 'id in the partner''s CRM (UTF-8), compared byte for byte';

ALTER TABLE conversations
  MODIFY COLUMN origin_conversation_id VARBINARY(512) NOT NULL DEFAULT '' COMMENT 'id in the partner''s system (UTF-8), compared byte for byte';

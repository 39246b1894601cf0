-- 0029_accounts_exact: sign-in emails and phones unique byte for byte.
-- The service trims and lower-cases an email, and writes a phone as E.164,
-- before every lookup and uniqueness check, and looks them up byte for
-- byte: "rép1@x" and "ｒep1@x" (a fullwidth letter) are not rep1@x, whom
-- signing in with them never finds. As VARCHAR under the database's
-- utf8mb4_unicode_ci the unique keys still took them for rep1@x, so
-- creating a user with one was refused as another user's account, which
-- no user is; the embedded SQLite (which compares bytes) stored them. As
-- VARBINARY they compare byte for byte, with no collation and no padding,
-- as the lookups and SQLite do, and the keys agree with them. The lengths
-- hold every value the VARCHAR columns could (255 and 32 characters of
-- UTF-8). Existing rows keep their bytes; values unique under the collation
-- are unique as bytes. The type change is not in-place DDL: the statement
-- rebuilds the table.

ALTER TABLE users
  MODIFY COLUMN email VARBINARY(1020) NULL DEFAULT NULL COMMENT 'login email (UTF-8, trimmed and lower-cased), unique byte for byte',
  MODIFY COLUMN phone VARBINARY(128) NULL DEFAULT NULL COMMENT 'login phone (UTF-8, E.164 or as an earlier release stored it), unique byte for byte';

-- 0009_token_versions: the token version of each user and app (see the
-- MySQL migration of the same number).

CREATE TABLE IF NOT EXISTS token_versions (
  id         INTEGER  PRIMARY KEY AUTOINCREMENT,
  kind       TEXT     NOT NULL DEFAULT '',
  subject_id INTEGER  NOT NULL DEFAULT 0,
  tenant_id  INTEGER  NOT NULL DEFAULT 0,
  version    INTEGER  NOT NULL DEFAULT 0,
  reason     TEXT     NOT NULL DEFAULT '',
  changed_at DATETIME NOT NULL
);

CREATE UNIQUE INDEX IF NOT EXISTS uniq_token_versions_subject ON token_versions (kind, subject_id);
CREATE INDEX IF NOT EXISTS idx_token_versions_changed ON token_versions (changed_at);

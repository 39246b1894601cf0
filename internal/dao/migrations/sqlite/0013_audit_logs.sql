-- 0013_audit_logs: the audit trail and each tenant's chain head (see the
-- MySQL migration of the same number).

CREATE TABLE IF NOT EXISTS audit_logs (
  id          INTEGER  PRIMARY KEY AUTOINCREMENT,
  tenant_id   INTEGER  NOT NULL DEFAULT 0,
  seq         INTEGER  NOT NULL DEFAULT 0,
  occurred_at DATETIME NOT NULL,
  actor_kind  TEXT     NOT NULL DEFAULT '',
  actor_id    INTEGER  NOT NULL DEFAULT 0,
  client_addr TEXT     NOT NULL DEFAULT '',
  operation   TEXT     NOT NULL DEFAULT '',
  target_type TEXT     NOT NULL DEFAULT '',
  target_id   TEXT     NOT NULL DEFAULT '',
  result      TEXT     NOT NULL DEFAULT '',
  request_id  TEXT     NOT NULL DEFAULT '',
  prev_hash   TEXT     NOT NULL DEFAULT '',
  hash        TEXT     NOT NULL DEFAULT ''
);

CREATE UNIQUE INDEX IF NOT EXISTS uniq_audit_logs_seq ON audit_logs (tenant_id, seq);
CREATE INDEX IF NOT EXISTS idx_audit_logs_time ON audit_logs (tenant_id, occurred_at, id);

CREATE TABLE IF NOT EXISTS audit_heads (
  tenant_id   INTEGER  PRIMARY KEY,
  seq         INTEGER  NOT NULL DEFAULT 0,
  hash        TEXT     NOT NULL DEFAULT '',
  anchor_seq  INTEGER  NOT NULL DEFAULT 0,
  anchor_hash TEXT     NOT NULL DEFAULT '',
  trimmed_at  DATETIME NOT NULL,
  updated_at  DATETIME NOT NULL
);

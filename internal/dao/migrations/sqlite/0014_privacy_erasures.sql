-- 0014_privacy_erasures: erasure jobs of personal data (see the MySQL
-- migration of the same number).

CREATE TABLE IF NOT EXISTS privacy_erasures (
  id                    INTEGER  PRIMARY KEY AUTOINCREMENT,
  tenant_id             INTEGER  NOT NULL DEFAULT 0,
  requested_by          INTEGER  NOT NULL DEFAULT 0,
  subject_kind          TEXT     NOT NULL DEFAULT '',
  subject               TEXT     NOT NULL DEFAULT '',
  user_id               INTEGER  NOT NULL DEFAULT 0,
  status                TEXT     NOT NULL DEFAULT 'pending',
  conversations_total   INTEGER  NOT NULL DEFAULT 0,
  conversations_deleted INTEGER  NOT NULL DEFAULT 0,
  users_anonymised      INTEGER  NOT NULL DEFAULT 0,
  lease_owner           TEXT     NOT NULL DEFAULT '',
  lease_until           DATETIME NOT NULL,
  last_error            TEXT     NOT NULL DEFAULT '',
  created_at            DATETIME NOT NULL,
  updated_at            DATETIME NOT NULL,
  finished_at           DATETIME NULL
);

CREATE INDEX IF NOT EXISTS idx_privacy_erasures_due ON privacy_erasures (status, lease_until);
CREATE INDEX IF NOT EXISTS idx_privacy_erasures_tenant ON privacy_erasures (tenant_id, id);

ALTER TABLE tenants ADD COLUMN retention_days INTEGER NOT NULL DEFAULT 0;

CREATE TABLE IF NOT EXISTS retention_runs (
  tenant_id   INTEGER  PRIMARY KEY,
  last_run_at DATETIME NOT NULL DEFAULT '1970-01-01 00:00:00',
  lease_owner TEXT     NOT NULL DEFAULT '',
  lease_until DATETIME NOT NULL DEFAULT '1970-01-01 00:00:00',
  deleted     INTEGER  NOT NULL DEFAULT 0
);

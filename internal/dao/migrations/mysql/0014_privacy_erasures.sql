-- 0014_privacy_erasures: erasure jobs of personal data. A job is claimed
-- with a lease (lease_owner, lease_until), so one instance at a time works
-- on it and another takes it over when the lease runs out (a killed
-- process); its progress is in the row, so it resumes after a restart. The
-- identifier being erased is kept only while the job runs.

CREATE TABLE privacy_erasures (
  id                    BIGINT UNSIGNED NOT NULL AUTO_INCREMENT COMMENT 'job id',
  tenant_id             BIGINT          NOT NULL DEFAULT 0 COMMENT 'tenants.id',
  requested_by          BIGINT          NOT NULL DEFAULT 0 COMMENT 'users.id of the admin who started it',
  subject_kind          VARCHAR(16)     NOT NULL DEFAULT '' COMMENT 'email, phone, origin_user_id or name',
  subject               VARCHAR(255)    NOT NULL DEFAULT '' COMMENT 'the identifier being erased, normalised; cleared when the job ends',
  user_id               BIGINT          NOT NULL DEFAULT 0 COMMENT 'users.id of the internal user to anonymise; 0: none',
  status                VARCHAR(24)     NOT NULL DEFAULT 'pending' COMMENT 'awaiting_confirmation, pending, done or failed',
  conversations_total   INT             NOT NULL DEFAULT 0 COMMENT 'conversations to delete, counted when the job was started',
  conversations_deleted INT             NOT NULL DEFAULT 0 COMMENT 'conversations deleted so far',
  users_anonymised      INT             NOT NULL DEFAULT 0 COMMENT 'internal users anonymised (0 or 1)',
  lease_owner           VARCHAR(64)     NOT NULL DEFAULT '' COMMENT 'instance working on it',
  lease_until           DATETIME(3)     NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT 'until when that instance holds it (UTC)',
  last_error            VARCHAR(1024)   NOT NULL DEFAULT '' COMMENT 'error of the last attempt',
  created_at            DATETIME(3)     NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT 'created (UTC)',
  updated_at            DATETIME(3)     NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT 'last changed (UTC)',
  finished_at           DATETIME(3)     NULL DEFAULT NULL COMMENT 'when it ended (UTC)',
  PRIMARY KEY (id),
  KEY idx_privacy_erasures_due (status, lease_until),
  KEY idx_privacy_erasures_tenant (tenant_id, id)
) ENGINE=InnoDB COMMENT='personal-data erasure jobs, claimed with a lease and resumed after a restart';

-- Retention: how many days a tenant keeps its conversations (0: for ever),
-- and the daily run of each tenant's retention, claimed by one instance at
-- a time with a lease.

ALTER TABLE tenants
  ADD COLUMN retention_days INT NOT NULL DEFAULT 0 COMMENT 'conversations that began more days ago are deleted daily; 0: kept for ever';

CREATE TABLE retention_runs (
  tenant_id   BIGINT      NOT NULL DEFAULT 0 COMMENT 'tenants.id',
  last_run_at DATETIME(3) NOT NULL DEFAULT '1970-01-01 00:00:00.000' COMMENT 'when its last run finished (UTC)',
  lease_owner VARCHAR(64) NOT NULL DEFAULT '' COMMENT 'instance running it',
  lease_until DATETIME(3) NOT NULL DEFAULT '1970-01-01 00:00:00.000' COMMENT 'until when that instance holds it (UTC)',
  deleted     BIGINT      NOT NULL DEFAULT 0 COMMENT 'conversations its last run deleted',
  PRIMARY KEY (tenant_id)
) ENGINE=InnoDB COMMENT='daily retention run per tenant, claimed with a lease so instances do not collide';

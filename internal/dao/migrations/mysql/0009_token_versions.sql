-- 0009_token_versions: the token version of each user and app. Access,
-- refresh and app tokens carry the version they were signed at; disabling a
-- user, changing their role or department, setting their password or
-- signing out (and disabling, re-scoping or rotating an app) raises it, and
-- every instance refuses tokens of an older version once it has read the
-- change (it polls the rows changed lately every second).

CREATE TABLE token_versions (
  id         BIGINT UNSIGNED NOT NULL AUTO_INCREMENT COMMENT 'row id',
  kind       VARCHAR(8)      NOT NULL DEFAULT '' COMMENT 'user or app',
  subject_id BIGINT          NOT NULL DEFAULT 0 COMMENT 'users.id or apps.id',
  tenant_id  BIGINT          NOT NULL DEFAULT 0 COMMENT 'tenants.id',
  version    BIGINT          NOT NULL DEFAULT 0 COMMENT 'tokens signed at a lower version are refused',
  reason     VARCHAR(32)     NOT NULL DEFAULT '' COMMENT 'why it was last raised: disabled, role, department, password, logout, secret',
  changed_at DATETIME(3)     NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT 'when it was last raised (UTC); instances poll by it',
  PRIMARY KEY (id),
  UNIQUE KEY uniq_token_versions_subject (kind, subject_id),
  KEY idx_token_versions_changed (changed_at)
) ENGINE=InnoDB COMMENT='token version per user and app: raising it revokes every token signed before, on every instance';

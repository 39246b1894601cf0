-- 0010_apps_managed: apps are managed by the tenant's admins. An app can be
-- disabled; its secret can be rotated with a grace period during which the
-- previous secret still signs in (its hash and the end of the grace are
-- kept); names are unique within a tenant. A token version raised at a
-- rotation with grace keeps the tokens of the previous version valid until
-- the grace ends (grace_version, grace_until), so those end with the old
-- secret rather than at once.

ALTER TABLE apps
  ADD COLUMN status           VARCHAR(16)  NOT NULL DEFAULT 'active' COMMENT 'active or disabled; a disabled app gets no token',
  ADD COLUMN old_secret_hash  VARCHAR(255) NOT NULL DEFAULT '' COMMENT 'hash of the previous secret while its grace lasts; empty when none',
  ADD COLUMN old_secret_until DATETIME(3)  NULL DEFAULT NULL COMMENT 'end of the previous secret''s grace (UTC); NULL when none',
  ADD COLUMN updated_at       DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT 'last changed (UTC)',
  ADD UNIQUE KEY uniq_apps_tenant_name (tenant_id, name);

ALTER TABLE token_versions
  ADD COLUMN grace_version BIGINT      NOT NULL DEFAULT 0 COMMENT 'tokens at this version or above stay valid until grace_until',
  ADD COLUMN grace_until   DATETIME(3) NULL DEFAULT NULL COMMENT 'end of the grace of grace_version (UTC); NULL when none',
  ADD KEY idx_token_versions_grace (grace_until);

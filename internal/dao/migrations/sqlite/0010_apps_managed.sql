-- 0010_apps_managed: app status, the previous secret's grace, unique names
-- per tenant, and the grace of a token version (see the MySQL migration of
-- the same number).

ALTER TABLE apps ADD COLUMN status TEXT NOT NULL DEFAULT 'active';
ALTER TABLE apps ADD COLUMN old_secret_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE apps ADD COLUMN old_secret_until DATETIME NULL;
ALTER TABLE apps ADD COLUMN updated_at DATETIME NOT NULL DEFAULT '1970-01-01 00:00:00';

CREATE UNIQUE INDEX IF NOT EXISTS uniq_apps_tenant_name ON apps (tenant_id, name);

ALTER TABLE token_versions ADD COLUMN grace_version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE token_versions ADD COLUMN grace_until DATETIME NULL;
CREATE INDEX IF NOT EXISTS idx_token_versions_grace ON token_versions (grace_until);

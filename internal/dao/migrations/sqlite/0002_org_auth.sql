-- 0002_org_auth: indexes for the auth and org use cases.
-- The embedded (SQLite) dialect of mysql/0002_org_auth.sql.

-- Revoking every refresh token of a user (disabled, password changed).
CREATE INDEX idx_refresh_tokens_user ON refresh_tokens (user_id);

-- Keyset pages of a tenant's users ordered by id.
CREATE INDEX idx_users_tenant ON users (tenant_id, id);

-- 0002_org_auth: indexes for the auth and org use cases.

-- Revoking every refresh token of a user (disabled, password changed).
ALTER TABLE refresh_tokens ADD KEY idx_refresh_tokens_user (user_id);

-- Keyset pages of a tenant's users ordered by id.
ALTER TABLE users ADD KEY idx_users_tenant (tenant_id, id);

-- 0031_outbox_tenant_due: the due search jobs of each tenant, oldest due
-- first (see the MySQL migration of the same number).

CREATE INDEX IF NOT EXISTS idx_outbox_tenant_due ON outbox (kind, tenant_id, next_attempt_at);

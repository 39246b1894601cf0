-- 0015_outbox_tenant: the search jobs of one tenant in the order they were
-- written (see the MySQL migration of the same number).

CREATE INDEX IF NOT EXISTS idx_outbox_tenant ON outbox (tenant_id, kind, id);

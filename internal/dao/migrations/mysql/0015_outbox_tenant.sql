-- 0015_outbox_tenant: the search jobs of one tenant by conversation. An
-- erasure waits until the search index has removed the conversations it
-- deleted: it looks for the tenant's search jobs whose conversation is gone,
-- every few hundred milliseconds while the indexer is behind, which is when
-- the outbox is longest. The index keeps that look to the tenant's own jobs
-- and answers it without reading the rows.

ALTER TABLE outbox
  ADD KEY idx_outbox_tenant (tenant_id, kind, conversation_id);

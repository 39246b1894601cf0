-- 0015_outbox_tenant: the search jobs of one tenant in the order they were
-- written. An erasure waits until the search index has removed the
-- conversations it deleted: it looks for the tenant's search jobs up to the
-- outbox's highest id after its last deletion whose conversation is gone,
-- every few hundred milliseconds while the indexer is behind, which is when
-- the outbox is longest. The index keeps that look to the tenant's own jobs
-- written before the mark, however many come after it.

ALTER TABLE outbox
  ADD KEY idx_outbox_tenant (tenant_id, kind, id);

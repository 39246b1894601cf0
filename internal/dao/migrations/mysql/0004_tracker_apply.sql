-- 0004_tracker_apply: indexes for the background re-application of trackers.

-- Batches walk a tenant's conversations in id order from a cursor.
CREATE INDEX idx_conversations_tenant_id ON conversations (tenant_id, id);

-- A tracker change drops the older jobs of that tracker; without this index
-- the DELETE would scan (and, on InnoDB, lock) every tracker job.
CREATE INDEX idx_outbox_tracker ON outbox (kind, tracker_id, version);

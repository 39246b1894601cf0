-- 0017_participants_lookup: a tenant's speakers by name and by user.
-- Privacy lookups and erasures find the conversations where an outside
-- speaker is named the person (tenant_id, name), and an erasure reads them
-- again for every batch it deletes and counts them when it starts, is
-- confirmed or reaches its total; anonymising a user finds the speakers who
-- are that user (tenant_id, user_id). Without these keys each of those reads
-- scanned every participant of the tenant. conversation_id ends the name key
-- so that the erasure's batches come in order from the index alone.

ALTER TABLE participants
  ADD KEY idx_participants_name (tenant_id, name, conversation_id),
  ADD KEY idx_participants_user (tenant_id, user_id);

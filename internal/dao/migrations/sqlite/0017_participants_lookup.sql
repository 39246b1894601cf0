-- 0017_participants_lookup: a tenant's speakers by name and by user (see the
-- MySQL migration of the same number).

CREATE INDEX IF NOT EXISTS idx_participants_name ON participants (tenant_id, name, conversation_id);
CREATE INDEX IF NOT EXISTS idx_participants_user ON participants (tenant_id, user_id);

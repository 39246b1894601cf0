-- 0027_participants_speaker_keys: a tenant's speakers by speaker key (see
-- the MySQL migration of the same number).

CREATE INDEX IF NOT EXISTS idx_participants_speaker_key ON participants (tenant_id, speaker_key, conversation_id);

-- 0027_participants_speaker_keys: a tenant's speakers by speaker key.
-- A privacy lookup or erasure takes an outside speaker for the person when
-- either the name or the speaker key is one of the person's labels (a call
-- centre keys the caller by their number). Without this key the OR of the
-- two could not read idx_participants_name alone and scanned every
-- participant of the tenant, for each batch an erasure deletes and each
-- count it makes; with it MySQL and MariaDB merge the two keys. The key is
-- the name key's shape: conversation_id last, so batches come in order.

ALTER TABLE participants
  ADD KEY idx_participants_speaker_key (tenant_id, speaker_key, conversation_id);

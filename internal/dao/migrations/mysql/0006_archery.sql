-- 0006_archery: brings a database migrated by 0001..0005 to the clean schema
-- that a new install gets from baseline/0006_schema.sql, through the same
-- review rules (goInception, as Archery runs it): a comment on every table
-- and column, a default on every column that takes one, unsigned
-- auto-increment ids, unique indexes named uniq_, indexes of at most three
-- columns, no JSON columns and no TEXT NOT NULL. One ALTER per table; rows
-- are kept as they are:
-- - ids become BIGINT UNSIGNED (every id is positive);
-- - JSON columns become TEXT (MariaDB's JSON is LONGTEXT; the values are
--   written and validated by the service: custom_data at most 16 KiB,
--   keywords at most 100 of 64 characters);
-- - comments.text becomes VARCHAR(2000), the length the service enforces;
-- - idx_conversations_owner drops its last column, id: InnoDB appends the
--   primary key to every secondary index, so it orders the same.

ALTER TABLE tenants
  COMMENT='customer organisations; every other table carries tenant_id',
  MODIFY COLUMN id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT COMMENT 'tenant id',
  MODIFY COLUMN name VARCHAR(255) NOT NULL DEFAULT '' COMMENT 'display name',
  MODIFY COLUMN timezone VARCHAR(64) NOT NULL DEFAULT 'Asia/Shanghai' COMMENT 'IANA time zone of the tenant''s reports',
  MODIFY COLUMN rate_tier VARCHAR(32) NOT NULL DEFAULT 'standard' COMMENT 'rate-limit tier',
  MODIFY COLUMN created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT 'created (UTC)',
  MODIFY COLUMN updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT 'last changed (UTC)';

ALTER TABLE departments
  COMMENT='the org tree of a tenant',
  MODIFY COLUMN id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT COMMENT 'department id',
  MODIFY COLUMN tenant_id BIGINT NOT NULL DEFAULT 0 COMMENT 'tenants.id',
  MODIFY COLUMN parent_id BIGINT NULL DEFAULT NULL COMMENT 'departments.id of the parent; NULL at the top',
  MODIFY COLUMN origin_department_id VARCHAR(128) NULL DEFAULT NULL COMMENT 'id in the partner''s system',
  MODIFY COLUMN name VARCHAR(255) NOT NULL DEFAULT '' COMMENT 'display name',
  MODIFY COLUMN path VARCHAR(512) NOT NULL DEFAULT '' COMMENT 'ids from the root down, e.g. /1/5/9/: a subtree is a prefix',
  MODIFY COLUMN created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT 'created (UTC)',
  MODIFY COLUMN updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT 'last changed (UTC)',
  DROP INDEX uk_departments_origin,
  ADD UNIQUE KEY uniq_departments_origin (tenant_id, origin_department_id);

ALTER TABLE users
  COMMENT='people who sign in or own conversations',
  MODIFY COLUMN id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT COMMENT 'user id',
  MODIFY COLUMN tenant_id BIGINT NOT NULL DEFAULT 0 COMMENT 'tenants.id',
  MODIFY COLUMN department_id BIGINT NULL DEFAULT NULL COMMENT 'departments.id',
  MODIFY COLUMN name VARCHAR(255) NOT NULL DEFAULT '' COMMENT 'display name',
  MODIFY COLUMN email VARCHAR(255) NULL DEFAULT NULL COMMENT 'login email, unique',
  MODIFY COLUMN phone VARCHAR(32) NULL DEFAULT NULL COMMENT 'login phone, unique',
  MODIFY COLUMN role VARCHAR(16) NOT NULL DEFAULT 'rep' COMMENT 'rep, manager or admin',
  MODIFY COLUMN status VARCHAR(16) NOT NULL DEFAULT 'active' COMMENT 'active or disabled',
  MODIFY COLUMN origin_user_id VARCHAR(128) NULL DEFAULT NULL COMMENT 'id in the partner''s system',
  MODIFY COLUMN password_hash VARCHAR(255) NOT NULL DEFAULT '' COMMENT 'password hash; empty: no password login',
  MODIFY COLUMN created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT 'created (UTC)',
  MODIFY COLUMN updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT 'last changed (UTC)',
  DROP INDEX uk_users_email,
  DROP INDEX uk_users_phone,
  DROP INDEX uk_users_origin,
  ADD UNIQUE KEY uniq_users_email (email),
  ADD UNIQUE KEY uniq_users_phone (phone),
  ADD UNIQUE KEY uniq_users_origin (tenant_id, origin_user_id);

ALTER TABLE apps
  COMMENT='open-platform (gRPC) client applications',
  MODIFY COLUMN id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT COMMENT 'app id',
  MODIFY COLUMN tenant_id BIGINT NOT NULL DEFAULT 0 COMMENT 'tenants.id',
  MODIFY COLUMN name VARCHAR(255) NOT NULL DEFAULT '' COMMENT 'display name',
  MODIFY COLUMN app_key VARCHAR(64) NOT NULL DEFAULT '' COMMENT 'public key of the open-platform client',
  MODIFY COLUMN secret_hash VARCHAR(255) NOT NULL DEFAULT '' COMMENT 'hash of the app secret',
  MODIFY COLUMN scopes VARCHAR(255) NOT NULL DEFAULT '' COMMENT 'space-separated scopes granted',
  MODIFY COLUMN rate_tier VARCHAR(32) NOT NULL DEFAULT 'standard' COMMENT 'rate-limit tier',
  MODIFY COLUMN created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT 'created (UTC)',
  DROP INDEX uk_apps_key,
  ADD UNIQUE KEY uniq_apps_key (app_key);

ALTER TABLE refresh_tokens
  COMMENT='refresh tokens of user sessions, stored hashed',
  MODIFY COLUMN id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT COMMENT 'token id',
  MODIFY COLUMN tenant_id BIGINT NOT NULL DEFAULT 0 COMMENT 'tenants.id',
  MODIFY COLUMN user_id BIGINT NOT NULL DEFAULT 0 COMMENT 'users.id',
  MODIFY COLUMN family_id CHAR(32) NOT NULL DEFAULT '' COMMENT 'rotation family; reuse revokes the family',
  MODIFY COLUMN token_hash CHAR(64) NOT NULL DEFAULT '' COMMENT 'SHA-256 of the token',
  MODIFY COLUMN expires_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT 'expiry (UTC)',
  MODIFY COLUMN used_at DATETIME(3) NULL DEFAULT NULL COMMENT 'when it was exchanged',
  MODIFY COLUMN revoked_at DATETIME(3) NULL DEFAULT NULL COMMENT 'when it was revoked',
  MODIFY COLUMN created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT 'created (UTC)',
  DROP INDEX uk_refresh_tokens_hash,
  ADD UNIQUE KEY uniq_refresh_tokens_hash (token_hash);

ALTER TABLE deals
  COMMENT='CRM deals that conversations belong to',
  MODIFY COLUMN id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT COMMENT 'deal id',
  MODIFY COLUMN tenant_id BIGINT NOT NULL DEFAULT 0 COMMENT 'tenants.id',
  MODIFY COLUMN origin_deal_id VARCHAR(128) NOT NULL DEFAULT '' COMMENT 'id in the partner''s CRM',
  MODIFY COLUMN name VARCHAR(255) NOT NULL DEFAULT '' COMMENT 'deal name',
  MODIFY COLUMN account_name VARCHAR(255) NOT NULL DEFAULT '' COMMENT 'customer account',
  MODIFY COLUMN stage VARCHAR(64) NOT NULL DEFAULT '' COMMENT 'CRM stage',
  MODIFY COLUMN amount_cents BIGINT NOT NULL DEFAULT 0 COMMENT 'amount in cents',
  MODIFY COLUMN owner_user_id BIGINT NULL DEFAULT NULL COMMENT 'users.id of the owner',
  MODIFY COLUMN created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT 'created (UTC)',
  MODIFY COLUMN updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT 'last changed (UTC)',
  DROP INDEX uk_deals_origin,
  ADD UNIQUE KEY uniq_deals_origin (tenant_id, origin_deal_id);

ALTER TABLE conversations
  COMMENT='calls and meetings',
  MODIFY COLUMN id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT COMMENT 'conversation id',
  MODIFY COLUMN tenant_id BIGINT NOT NULL DEFAULT 0 COMMENT 'tenants.id',
  MODIFY COLUMN origin_conversation_id VARCHAR(128) NOT NULL DEFAULT '' COMMENT 'id in the partner''s system',
  MODIFY COLUMN owner_user_id BIGINT NOT NULL DEFAULT 0 COMMENT 'users.id of the owner',
  MODIFY COLUMN deal_id BIGINT NULL DEFAULT NULL COMMENT 'deals.id',
  MODIFY COLUMN title VARCHAR(255) NOT NULL DEFAULT '' COMMENT 'title',
  MODIFY COLUMN channel VARCHAR(16) NOT NULL DEFAULT 'call' COMMENT 'call or meeting',
  MODIFY COLUMN direction VARCHAR(16) NOT NULL DEFAULT 'unknown' COMMENT 'inbound, outbound or unknown',
  MODIFY COLUMN begin_time DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT 'when it began (UTC)',
  MODIFY COLUMN duration_ms BIGINT NOT NULL DEFAULT 0 COMMENT 'length in milliseconds',
  MODIFY COLUMN language VARCHAR(16) NOT NULL DEFAULT '' COMMENT 'BCP 47 language tag',
  MODIFY COLUMN status VARCHAR(16) NOT NULL DEFAULT 'pending' COMMENT 'pending, ready or failed',
  MODIFY COLUMN custom_data TEXT NULL COMMENT 'the partner''s JSON object (at most 16 KiB)',
  MODIFY COLUMN request_hash CHAR(64) NOT NULL DEFAULT '' COMMENT 'hash of the creating request, for idempotent retries',
  MODIFY COLUMN transcript_version BIGINT NOT NULL DEFAULT 0 COMMENT 'bumped on every transcript write',
  MODIFY COLUMN sentence_count INT NOT NULL DEFAULT 0 COMMENT 'sentences in the transcript',
  MODIFY COLUMN created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT 'created (UTC)',
  MODIFY COLUMN updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT 'last changed (UTC)',
  DROP INDEX uk_conversations_origin,
  DROP INDEX idx_conversations_owner,
  ADD UNIQUE KEY uniq_conversations_origin (tenant_id, origin_conversation_id),
  ADD KEY idx_conversations_owner (tenant_id, owner_user_id, begin_time);

ALTER TABLE participants
  COMMENT='speakers of a conversation',
  MODIFY COLUMN id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT COMMENT 'participant id',
  MODIFY COLUMN tenant_id BIGINT NOT NULL DEFAULT 0 COMMENT 'tenants.id',
  MODIFY COLUMN conversation_id BIGINT NOT NULL DEFAULT 0 COMMENT 'conversations.id',
  MODIFY COLUMN speaker_key VARCHAR(64) NOT NULL DEFAULT '' COMMENT 'speaker label used by the transcript',
  MODIFY COLUMN user_id BIGINT NULL DEFAULT NULL COMMENT 'users.id when the speaker is a user',
  MODIFY COLUMN name VARCHAR(255) NOT NULL DEFAULT '' COMMENT 'display name',
  MODIFY COLUMN affiliation VARCHAR(16) NOT NULL DEFAULT 'unknown' COMMENT 'internal, external or unknown',
  DROP INDEX uk_participants_speaker,
  ADD UNIQUE KEY uniq_participants_speaker (conversation_id, speaker_key);

ALTER TABLE conversation_metrics
  COMMENT='interaction metrics of a conversation',
  MODIFY COLUMN conversation_id BIGINT NOT NULL DEFAULT 0 COMMENT 'conversations.id',
  MODIFY COLUMN tenant_id BIGINT NOT NULL DEFAULT 0 COMMENT 'tenants.id',
  MODIFY COLUMN algo_version INT NOT NULL DEFAULT 0 COMMENT 'version of the algorithm that computed the row',
  MODIFY COLUMN talk_ratio DOUBLE NOT NULL DEFAULT 0 COMMENT 'talk ratio of the internal speakers',
  MODIFY COLUMN longest_monologue_ms BIGINT NOT NULL DEFAULT 0 COMMENT 'longest monologue, ms',
  MODIFY COLUMN longest_customer_story_ms BIGINT NOT NULL DEFAULT 0 COMMENT 'longest customer story, ms',
  MODIFY COLUMN interactivity DOUBLE NOT NULL DEFAULT 0 COMMENT 'interactivity score',
  MODIFY COLUMN patience_ms BIGINT NOT NULL DEFAULT 0 COMMENT 'patience, ms',
  MODIFY COLUMN question_count_internal INT NOT NULL DEFAULT 0 COMMENT 'questions asked by internal speakers',
  MODIFY COLUMN question_count_external INT NOT NULL DEFAULT 0 COMMENT 'questions asked by external speakers',
  MODIFY COLUMN question_rate DOUBLE NOT NULL DEFAULT 0 COMMENT 'question rate',
  MODIFY COLUMN silence_ms BIGINT NOT NULL DEFAULT 0 COMMENT 'total silence, ms',
  MODIFY COLUMN computed_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT 'when computed (UTC)';

ALTER TABLE trackers
  COMMENT='keyword trackers',
  MODIFY COLUMN id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT COMMENT 'tracker id',
  MODIFY COLUMN tenant_id BIGINT NOT NULL DEFAULT 0 COMMENT 'tenants.id',
  MODIFY COLUMN name VARCHAR(255) NOT NULL DEFAULT '' COMMENT 'display name',
  MODIFY COLUMN keywords TEXT NULL COMMENT 'JSON array of words and phrases (at most 100 of 64 characters)',
  MODIFY COLUMN affiliation VARCHAR(16) NOT NULL DEFAULT 'anyone' COMMENT 'whose words match: internal, external or anyone',
  MODIFY COLUMN version BIGINT NOT NULL DEFAULT 1 COMMENT 'bumped when what it matches changes',
  MODIFY COLUMN created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT 'created (UTC)',
  MODIFY COLUMN updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT 'last changed (UTC)',
  MODIFY COLUMN deleted_at DATETIME(3) NULL DEFAULT NULL COMMENT 'soft deletion (UTC)';

ALTER TABLE tracker_hits
  COMMENT='where trackers matched in transcripts',
  MODIFY COLUMN id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT COMMENT 'hit id',
  MODIFY COLUMN tenant_id BIGINT NOT NULL DEFAULT 0 COMMENT 'tenants.id',
  MODIFY COLUMN tracker_id BIGINT NOT NULL DEFAULT 0 COMMENT 'trackers.id',
  MODIFY COLUMN conversation_id BIGINT NOT NULL DEFAULT 0 COMMENT 'conversations.id',
  MODIFY COLUMN seq INT NOT NULL DEFAULT 0 COMMENT 'sentence number in the transcript',
  MODIFY COLUMN start_ms BIGINT NOT NULL DEFAULT 0 COMMENT 'sentence start, ms from the beginning',
  MODIFY COLUMN speaker_key VARCHAR(64) NOT NULL DEFAULT '' COMMENT 'speaker of the sentence',
  MODIFY COLUMN phrase VARCHAR(255) NOT NULL DEFAULT '' COMMENT 'the keyword that matched';

ALTER TABLE comments
  COMMENT='comments on conversations',
  MODIFY COLUMN id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT COMMENT 'comment id',
  MODIFY COLUMN tenant_id BIGINT NOT NULL DEFAULT 0 COMMENT 'tenants.id',
  MODIFY COLUMN conversation_id BIGINT NOT NULL DEFAULT 0 COMMENT 'conversations.id',
  MODIFY COLUMN author_user_id BIGINT NOT NULL DEFAULT 0 COMMENT 'users.id of the author',
  MODIFY COLUMN start_ms BIGINT NOT NULL DEFAULT 0 COMMENT 'moment of the conversation it is about, ms',
  MODIFY COLUMN text VARCHAR(2000) NOT NULL DEFAULT '' COMMENT 'the comment (at most 2000 characters)',
  MODIFY COLUMN reply_to BIGINT NULL DEFAULT NULL COMMENT 'comments.id it answers',
  MODIFY COLUMN created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT 'created (UTC)',
  MODIFY COLUMN deleted_at DATETIME(3) NULL DEFAULT NULL COMMENT 'soft deletion (UTC)';

ALTER TABLE outbox
  COMMENT='background jobs written in the transaction of the change they follow',
  MODIFY COLUMN id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT COMMENT 'job id',
  MODIFY COLUMN tenant_id BIGINT NOT NULL DEFAULT 0 COMMENT 'tenants.id',
  MODIFY COLUMN kind VARCHAR(32) NOT NULL DEFAULT '' COMMENT 'job kind',
  MODIFY COLUMN conversation_id BIGINT NOT NULL DEFAULT 0 COMMENT 'conversations.id; 0: none',
  MODIFY COLUMN tracker_id BIGINT NOT NULL DEFAULT 0 COMMENT 'trackers.id; 0: none',
  MODIFY COLUMN version BIGINT NOT NULL DEFAULT 0 COMMENT 'version of the subject the job is for',
  MODIFY COLUMN attempts INT NOT NULL DEFAULT 0 COMMENT 'failed attempts so far',
  MODIFY COLUMN next_attempt_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT 'when it is due (UTC)',
  MODIFY COLUMN last_error VARCHAR(1024) NOT NULL DEFAULT '' COMMENT 'error of the last attempt',
  MODIFY COLUMN created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT 'created (UTC)';

ALTER TABLE transcript_parts
  COMMENT='transcripts, a few JSON rows per conversation',
  MODIFY COLUMN conversation_id BIGINT NOT NULL DEFAULT 0 COMMENT 'conversations.id',
  MODIFY COLUMN part INT NOT NULL DEFAULT 0 COMMENT 'part number, from 0',
  MODIFY COLUMN tenant_id BIGINT NOT NULL DEFAULT 0 COMMENT 'tenants.id',
  MODIFY COLUMN sentences LONGTEXT NULL COMMENT 'JSON array of up to 1000 sentences {seq, speaker_key, start_ms, end_ms, text}';

ALTER TABLE schema_migrations
  COMMENT='applied schema migrations (mgvcore migrate)',
  MODIFY COLUMN version INT UNSIGNED NOT NULL DEFAULT 0 COMMENT 'migration number',
  MODIFY COLUMN name VARCHAR(255) NOT NULL DEFAULT '' COMMENT 'migration name',
  MODIFY COLUMN applied_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT 'when it was applied (UTC)';

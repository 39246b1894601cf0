-- The MySQL schema at migration 0032, in one piece: what `mgvcore migrate up`
-- creates on an empty database instead of replaying 0001 to 0032, so that a
-- new install is reviewed (Archery, goInception rules) as the clean schema.
-- A test keeps it equal to what 0001..0032 build on an existing database.
-- Tables take the database's character set: create the database with
-- CHARACTER SET utf8mb4 (`migrate up` refuses any other).

CREATE TABLE tenants (
  id         BIGINT UNSIGNED NOT NULL AUTO_INCREMENT COMMENT 'tenant id',
  name       VARCHAR(255)    NOT NULL DEFAULT '' COMMENT 'display name',
  timezone   VARCHAR(64)     NOT NULL DEFAULT 'Asia/Shanghai' COMMENT 'IANA time zone of the tenant''s reports',
  rate_tier  VARCHAR(32)     NOT NULL DEFAULT 'standard' COMMENT 'rate-limit tier',
  created_at DATETIME(3)     NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT 'created (UTC)',
  updated_at DATETIME(3)     NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT 'last changed (UTC)',
  retention_days INT         NOT NULL DEFAULT 0 COMMENT 'conversations that began more days ago are deleted daily; 0: kept for ever',
  PRIMARY KEY (id)
) ENGINE=InnoDB COMMENT='customer organisations; every other table carries tenant_id';

CREATE TABLE departments (
  id                   BIGINT UNSIGNED NOT NULL AUTO_INCREMENT COMMENT 'department id',
  tenant_id            BIGINT          NOT NULL DEFAULT 0 COMMENT 'tenants.id',
  parent_id            BIGINT          NULL DEFAULT NULL COMMENT 'departments.id of the parent; NULL at the top',
  origin_department_id VARBINARY(512)  NULL DEFAULT NULL COMMENT 'id in the partner''s system (UTF-8), compared byte for byte',
  name                 VARCHAR(255)    NOT NULL DEFAULT '' COMMENT 'display name',
  path                 VARCHAR(512)    NOT NULL DEFAULT '' COMMENT 'ids from the root down, e.g. /1/5/9/: a subtree is a prefix',
  created_at           DATETIME(3)     NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT 'created (UTC)',
  updated_at           DATETIME(3)     NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT 'last changed (UTC)',
  PRIMARY KEY (id),
  UNIQUE KEY uniq_departments_origin (tenant_id, origin_department_id),
  KEY idx_departments_path (tenant_id, path(191))
) ENGINE=InnoDB COMMENT='the org tree of a tenant';

CREATE TABLE users (
  id             BIGINT UNSIGNED NOT NULL AUTO_INCREMENT COMMENT 'user id',
  tenant_id      BIGINT          NOT NULL DEFAULT 0 COMMENT 'tenants.id',
  department_id  BIGINT          NULL DEFAULT NULL COMMENT 'departments.id',
  name           VARCHAR(255)    NOT NULL DEFAULT '' COMMENT 'display name',
  email          VARBINARY(1020) NULL DEFAULT NULL COMMENT 'login email (UTF-8, trimmed and lower-cased), unique byte for byte',
  phone          VARBINARY(128)  NULL DEFAULT NULL COMMENT 'login phone (UTF-8, E.164 or as an earlier release stored it), unique byte for byte',
  role           VARCHAR(16)     NOT NULL DEFAULT 'rep' COMMENT 'rep, manager or admin',
  status         VARCHAR(16)     NOT NULL DEFAULT 'active' COMMENT 'active or disabled',
  origin_user_id VARBINARY(512)  NULL DEFAULT NULL COMMENT 'id in the partner''s system (UTF-8), compared byte for byte',
  password_hash  VARCHAR(255)    NOT NULL DEFAULT '' COMMENT 'password hash; empty: no password login',
  created_at     DATETIME(3)     NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT 'created (UTC)',
  updated_at     DATETIME(3)     NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT 'last changed (UTC)',
  PRIMARY KEY (id),
  UNIQUE KEY uniq_users_email (email),
  UNIQUE KEY uniq_users_phone (phone),
  UNIQUE KEY uniq_users_origin (tenant_id, origin_user_id),
  KEY idx_users_department (tenant_id, department_id),
  KEY idx_users_tenant (tenant_id, id)
) ENGINE=InnoDB COMMENT='people who sign in or own conversations';

CREATE TABLE apps (
  id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT COMMENT 'app id',
  tenant_id   BIGINT          NOT NULL DEFAULT 0 COMMENT 'tenants.id',
  name        VARBINARY(1020) NOT NULL DEFAULT '' COMMENT 'display name (UTF-8, trimmed), unique in the tenant byte for byte',
  app_key     VARCHAR(64)     NOT NULL DEFAULT '' COMMENT 'public key of the open-platform client',
  secret_hash VARCHAR(255)    NOT NULL DEFAULT '' COMMENT 'hash of the app secret',
  scopes      VARCHAR(255)    NOT NULL DEFAULT '' COMMENT 'space-separated scopes granted',
  rate_tier   VARCHAR(32)     NOT NULL DEFAULT 'standard' COMMENT 'rate-limit tier',
  created_at  DATETIME(3)     NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT 'created (UTC)',
  status           VARCHAR(16)  NOT NULL DEFAULT 'active' COMMENT 'active or disabled; a disabled app gets no token',
  old_secret_hash  VARCHAR(255) NOT NULL DEFAULT '' COMMENT 'hash of the previous secret while its grace lasts; empty when none',
  old_secret_until DATETIME(3)  NULL DEFAULT NULL COMMENT 'end of the previous secret''s grace (UTC); NULL when none',
  updated_at       DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT 'last changed (UTC)',
  PRIMARY KEY (id),
  UNIQUE KEY uniq_apps_key (app_key),
  UNIQUE KEY uniq_apps_tenant_name (tenant_id, name),
  KEY idx_apps_tenant (tenant_id)
) ENGINE=InnoDB COMMENT='open-platform (gRPC) client applications';

CREATE TABLE refresh_tokens (
  id         BIGINT UNSIGNED NOT NULL AUTO_INCREMENT COMMENT 'token id',
  tenant_id  BIGINT          NOT NULL DEFAULT 0 COMMENT 'tenants.id',
  user_id    BIGINT          NOT NULL DEFAULT 0 COMMENT 'users.id',
  family_id  CHAR(32)        NOT NULL DEFAULT '' COMMENT 'rotation family; reuse revokes the family',
  token_hash CHAR(64)        NOT NULL DEFAULT '' COMMENT 'SHA-256 of the token',
  expires_at DATETIME(3)     NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT 'expiry (UTC)',
  used_at    DATETIME(3)     NULL DEFAULT NULL COMMENT 'when it was exchanged',
  revoked_at DATETIME(3)     NULL DEFAULT NULL COMMENT 'when it was revoked',
  created_at DATETIME(3)     NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT 'created (UTC)',
  PRIMARY KEY (id),
  UNIQUE KEY uniq_refresh_tokens_hash (token_hash),
  KEY idx_refresh_tokens_family (family_id),
  KEY idx_refresh_tokens_user (user_id)
) ENGINE=InnoDB COMMENT='refresh tokens of user sessions, stored hashed';

CREATE TABLE deals (
  id             BIGINT UNSIGNED NOT NULL AUTO_INCREMENT COMMENT 'deal id',
  tenant_id      BIGINT          NOT NULL DEFAULT 0 COMMENT 'tenants.id',
  origin_deal_id VARBINARY(512)  NOT NULL DEFAULT '' COMMENT 'id in the partner''s CRM (UTF-8), compared byte for byte',
  name           VARCHAR(255)    NOT NULL DEFAULT '' COMMENT 'deal name',
  account_name   VARCHAR(255)    NOT NULL DEFAULT '' COMMENT 'customer account',
  stage          VARCHAR(64)     NOT NULL DEFAULT '' COMMENT 'CRM stage',
  amount_cents   BIGINT          NOT NULL DEFAULT 0 COMMENT 'amount in cents',
  owner_user_id  BIGINT          NULL DEFAULT NULL COMMENT 'users.id of the owner',
  created_at     DATETIME(3)     NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT 'created (UTC)',
  updated_at     DATETIME(3)     NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT 'last changed (UTC)',
  PRIMARY KEY (id),
  UNIQUE KEY uniq_deals_origin (tenant_id, origin_deal_id)
) ENGINE=InnoDB COMMENT='CRM deals that conversations belong to';

CREATE TABLE conversations (
  id                     BIGINT UNSIGNED NOT NULL AUTO_INCREMENT COMMENT 'conversation id',
  tenant_id              BIGINT          NOT NULL DEFAULT 0 COMMENT 'tenants.id',
  origin_conversation_id VARBINARY(512)  NOT NULL DEFAULT '' COMMENT 'id in the partner''s system (UTF-8), compared byte for byte',
  owner_user_id          BIGINT          NOT NULL DEFAULT 0 COMMENT 'users.id of the owner',
  deal_id                BIGINT          NULL DEFAULT NULL COMMENT 'deals.id',
  title                  VARCHAR(255)    NOT NULL DEFAULT '' COMMENT 'title',
  channel                VARCHAR(16)     NOT NULL DEFAULT 'call' COMMENT 'call or meeting',
  direction              VARCHAR(16)     NOT NULL DEFAULT 'unknown' COMMENT 'inbound, outbound or unknown',
  begin_time             DATETIME(3)     NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT 'when it began (UTC)',
  duration_ms            BIGINT          NOT NULL DEFAULT 0 COMMENT 'length in milliseconds',
  language               VARCHAR(16)     NOT NULL DEFAULT '' COMMENT 'BCP 47 language tag',
  status                 VARCHAR(16)     NOT NULL DEFAULT 'pending' COMMENT 'pending, ready or failed',
  custom_data            TEXT            NULL COMMENT 'the partner''s JSON object (at most 16 KiB)',
  request_hash           CHAR(64)        NOT NULL DEFAULT '' COMMENT 'hash of the creating request, for idempotent retries',
  transcript_version     BIGINT          NOT NULL DEFAULT 0 COMMENT 'bumped on every transcript write',
  sentence_count         INT             NOT NULL DEFAULT 0 COMMENT 'sentences in the transcript',
  created_at             DATETIME(3)     NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT 'created (UTC)',
  updated_at             DATETIME(3)     NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT 'last changed (UTC)',
  PRIMARY KEY (id),
  UNIQUE KEY uniq_conversations_origin (tenant_id, origin_conversation_id),
  KEY idx_conversations_time (tenant_id, begin_time, id),
  KEY idx_conversations_owner (tenant_id, owner_user_id, begin_time),
  KEY idx_conversations_deal (tenant_id, deal_id, begin_time),
  KEY idx_conversations_direction (tenant_id, direction, begin_time),
  KEY idx_conversations_duration (tenant_id, duration_ms),
  KEY idx_conversations_tenant_id (tenant_id, id)
) ENGINE=InnoDB COMMENT='calls and meetings';

CREATE TABLE participants (
  id              BIGINT UNSIGNED NOT NULL AUTO_INCREMENT COMMENT 'participant id',
  tenant_id       BIGINT          NOT NULL DEFAULT 0 COMMENT 'tenants.id',
  conversation_id BIGINT          NOT NULL DEFAULT 0 COMMENT 'conversations.id',
  speaker_key     VARBINARY(256)  NOT NULL DEFAULT '' COMMENT 'speaker label used by the transcript (UTF-8), compared byte for byte',
  user_id         BIGINT          NULL DEFAULT NULL COMMENT 'users.id when the speaker is a user',
  name            VARCHAR(255)    NOT NULL DEFAULT '' COMMENT 'display name',
  affiliation     VARCHAR(16)     NOT NULL DEFAULT 'unknown' COMMENT 'internal, external or unknown',
  PRIMARY KEY (id),
  UNIQUE KEY uniq_participants_speaker (conversation_id, speaker_key),
  KEY idx_participants_name (tenant_id, name, conversation_id),
  KEY idx_participants_user (tenant_id, user_id),
  KEY idx_participants_speaker_key (tenant_id, speaker_key, conversation_id)
) ENGINE=InnoDB COMMENT='speakers of a conversation';

CREATE TABLE conversation_metrics (
  conversation_id           BIGINT      NOT NULL DEFAULT 0 COMMENT 'conversations.id',
  tenant_id                 BIGINT      NOT NULL DEFAULT 0 COMMENT 'tenants.id',
  algo_version              INT         NOT NULL DEFAULT 0 COMMENT 'version of the algorithm that computed the row',
  talk_ratio                DOUBLE      NOT NULL DEFAULT 0 COMMENT 'talk ratio of the internal speakers',
  longest_monologue_ms      BIGINT      NOT NULL DEFAULT 0 COMMENT 'longest monologue, ms',
  longest_customer_story_ms BIGINT      NOT NULL DEFAULT 0 COMMENT 'longest customer story, ms',
  interactivity             DOUBLE      NOT NULL DEFAULT 0 COMMENT 'interactivity score',
  patience_ms               DOUBLE      NOT NULL DEFAULT 0 COMMENT 'patience: mean gap from the end of a customer turn to the next rep turn, ms, with its fraction',
  question_count_internal   INT         NOT NULL DEFAULT 0 COMMENT 'questions asked by internal speakers',
  question_count_external   INT         NOT NULL DEFAULT 0 COMMENT 'questions asked by external speakers',
  question_rate             DOUBLE      NOT NULL DEFAULT 0 COMMENT 'question rate',
  silence_ms                BIGINT      NOT NULL DEFAULT 0 COMMENT 'total silence, ms',
  computed_at               DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT 'when computed (UTC)',
  PRIMARY KEY (conversation_id)
) ENGINE=InnoDB COMMENT='interaction metrics of a conversation';

CREATE TABLE trackers (
  id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT COMMENT 'tracker id',
  tenant_id   BIGINT          NOT NULL DEFAULT 0 COMMENT 'tenants.id',
  name        VARCHAR(255)    NOT NULL DEFAULT '' COMMENT 'display name',
  keywords    TEXT            NULL COMMENT 'JSON array of words and phrases (at most 100 of 64 characters)',
  affiliation VARCHAR(16)     NOT NULL DEFAULT 'anyone' COMMENT 'whose words match: internal, external or anyone',
  version     BIGINT          NOT NULL DEFAULT 1 COMMENT 'bumped when what it matches changes',
  created_at  DATETIME(3)     NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT 'created (UTC)',
  updated_at  DATETIME(3)     NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT 'last changed (UTC)',
  deleted_at  DATETIME(3)     NULL DEFAULT NULL COMMENT 'soft deletion (UTC)',
  match_rule  INT             NOT NULL DEFAULT 0 COMMENT 'rule of keyword matching it was last queued to be applied to every conversation by; below the service''s, it is applied again once; 0: before 0028',
  PRIMARY KEY (id),
  KEY idx_trackers_tenant (tenant_id, deleted_at),
  KEY idx_trackers_match_rule (match_rule)
) ENGINE=InnoDB COMMENT='keyword trackers';

CREATE TABLE tracker_hits (
  id              BIGINT UNSIGNED NOT NULL AUTO_INCREMENT COMMENT 'hit id',
  tenant_id       BIGINT          NOT NULL DEFAULT 0 COMMENT 'tenants.id',
  tracker_id      BIGINT          NOT NULL DEFAULT 0 COMMENT 'trackers.id',
  conversation_id BIGINT          NOT NULL DEFAULT 0 COMMENT 'conversations.id',
  seq             INT             NOT NULL DEFAULT 0 COMMENT 'sentence number in the transcript',
  start_ms        BIGINT          NOT NULL DEFAULT 0 COMMENT 'sentence start, ms from the beginning',
  speaker_key     VARBINARY(256)  NOT NULL DEFAULT '' COMMENT 'speaker of the sentence (UTF-8), as in participants',
  phrase          VARCHAR(255)    NOT NULL DEFAULT '' COMMENT 'the keyword that matched',
  PRIMARY KEY (id),
  KEY idx_tracker_hits_tracker (tenant_id, tracker_id, conversation_id),
  KEY idx_tracker_hits_conversation (conversation_id, tracker_id)
) ENGINE=InnoDB COMMENT='where trackers matched in transcripts';

CREATE TABLE comments (
  id              BIGINT UNSIGNED NOT NULL AUTO_INCREMENT COMMENT 'comment id',
  tenant_id       BIGINT          NOT NULL DEFAULT 0 COMMENT 'tenants.id',
  conversation_id BIGINT          NOT NULL DEFAULT 0 COMMENT 'conversations.id',
  author_user_id  BIGINT          NOT NULL DEFAULT 0 COMMENT 'users.id of the author',
  start_ms        BIGINT          NOT NULL DEFAULT 0 COMMENT 'moment of the conversation it is about, ms',
  text            VARCHAR(2000)   NOT NULL DEFAULT '' COMMENT 'the comment (at most 2000 characters)',
  reply_to        BIGINT          NULL DEFAULT NULL COMMENT 'comments.id it answers',
  created_at      DATETIME(3)     NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT 'created (UTC)',
  deleted_at      DATETIME(3)     NULL DEFAULT NULL COMMENT 'soft deletion (UTC)',
  PRIMARY KEY (id),
  KEY idx_comments_conversation (tenant_id, conversation_id, start_ms),
  KEY idx_comments_author (tenant_id, author_user_id)
) ENGINE=InnoDB COMMENT='comments on conversations';

CREATE TABLE outbox (
  id              BIGINT UNSIGNED NOT NULL AUTO_INCREMENT COMMENT 'job id',
  tenant_id       BIGINT          NOT NULL DEFAULT 0 COMMENT 'tenants.id',
  kind            VARCHAR(32)     NOT NULL DEFAULT '' COMMENT 'job kind',
  conversation_id BIGINT          NOT NULL DEFAULT 0 COMMENT 'conversations.id; 0: none',
  tracker_id      BIGINT          NOT NULL DEFAULT 0 COMMENT 'trackers.id; 0: none',
  version         BIGINT          NOT NULL DEFAULT 0 COMMENT 'version of the subject the job is for',
  attempts        INT             NOT NULL DEFAULT 0 COMMENT 'claims so far; a claim acts on the job only while the count is still its own',
  next_attempt_at DATETIME(3)     NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT 'when it is due (UTC)',
  last_error      VARCHAR(1024)   NOT NULL DEFAULT '' COMMENT 'error of the last attempt',
  created_at      DATETIME(3)     NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT 'created (UTC)',
  failures        INT             NOT NULL DEFAULT 0 COMMENT 'failed attempts in a row; the retry delay grows with them; 0 after a turn handed back',
  PRIMARY KEY (id),
  KEY idx_outbox_due (kind, next_attempt_at, id),
  KEY idx_outbox_tracker (kind, tracker_id, version),
  KEY idx_outbox_tenant (tenant_id, kind, id),
  KEY idx_outbox_tenant_due (kind, tenant_id, next_attempt_at)
) ENGINE=InnoDB COMMENT='background jobs written in the transaction of the change they follow';

CREATE TABLE transcript_parts (
  conversation_id BIGINT   NOT NULL DEFAULT 0 COMMENT 'conversations.id',
  part            INT      NOT NULL DEFAULT 0 COMMENT 'part number, from 0',
  tenant_id       BIGINT   NOT NULL DEFAULT 0 COMMENT 'tenants.id',
  sentences       LONGTEXT NULL COMMENT 'JSON array of up to 1000 sentences {seq, speaker_key, start_ms, end_ms, text}',
  PRIMARY KEY (conversation_id, part)
) ENGINE=InnoDB COMMENT='transcripts, a few JSON rows per conversation';

CREATE TABLE signin_throttle (
  bucket       CHAR(64)     NOT NULL DEFAULT '' COMMENT 'SHA-256 (hex) of the kind and the key: an account, an app key or a client address',
  kind         VARCHAR(16)  NOT NULL DEFAULT '' COMMENT 'account, app or address (a budget per account, app key or client address), account@client or app@client (an account''s or app key''s budget from one client address), or known (a client address that signed in to the account)',
  attempts     INT UNSIGNED NOT NULL DEFAULT 0 COMMENT 'sign-in attempts counted in the window; a success takes its own back',
  window_start DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT 'when the counting window began (UTC)',
  updated_at   DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT 'last attempt counted (UTC)',
  PRIMARY KEY (bucket),
  KEY idx_signin_throttle_window (window_start)
) ENGINE=InnoDB COMMENT='sign-in throttling: attempts per account, app key and client address in the current window; past windows are trimmed';

CREATE TABLE token_versions (
  id         BIGINT UNSIGNED NOT NULL AUTO_INCREMENT COMMENT 'row id',
  kind       VARCHAR(8)      NOT NULL DEFAULT '' COMMENT 'user or app',
  subject_id BIGINT          NOT NULL DEFAULT 0 COMMENT 'users.id or apps.id',
  tenant_id  BIGINT          NOT NULL DEFAULT 0 COMMENT 'tenants.id',
  version    BIGINT          NOT NULL DEFAULT 0 COMMENT 'tokens signed at a lower version are refused',
  reason     VARCHAR(32)     NOT NULL DEFAULT '' COMMENT 'why it was last raised: disabled, role, department, password, logout, secret',
  changed_at DATETIME(3)     NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT 'when it was last raised (UTC); instances poll by it',
  grace_version BIGINT      NOT NULL DEFAULT 0 COMMENT 'tokens at this version or above stay valid until grace_until',
  grace_until   DATETIME(3) NULL DEFAULT NULL COMMENT 'end of the grace of grace_version (UTC); NULL when none',
  revision      BIGINT      NOT NULL DEFAULT 0 COMMENT 'token_version_seq.last_revision taken by the last raise; instances poll by it; 0: raised by a release before 0025',
  PRIMARY KEY (id),
  UNIQUE KEY uniq_token_versions_subject (kind, subject_id),
  KEY idx_token_versions_changed (changed_at),
  KEY idx_token_versions_grace (grace_until),
  KEY idx_token_versions_revision (revision)
) ENGINE=InnoDB COMMENT='token version per user and app: raising it revokes every token signed before, on every instance';

CREATE TABLE token_version_seq (
  id            TINYINT NOT NULL DEFAULT 1 COMMENT 'always 1: the table has one row',
  last_revision BIGINT  NOT NULL DEFAULT 0 COMMENT 'revision of the newest token version raise',
  PRIMARY KEY (id)
) ENGINE=InnoDB COMMENT='revision sequence of token version raises: a raising transaction locks and raises it, so revisions follow commit order';

CREATE TABLE event_seqs (
  tenant_id       BIGINT      NOT NULL DEFAULT 0 COMMENT 'tenants.id',
  last_id         BIGINT      NOT NULL DEFAULT 0 COMMENT 'id of the newest event of the tenant',
  trimmed_through BIGINT      NOT NULL DEFAULT 0 COMMENT 'every event up to this id was trimmed by retention',
  updated_at      DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT 'last event appended (UTC); readers poll by it',
  PRIMARY KEY (tenant_id)
) ENGINE=InnoDB COMMENT='event id sequence per tenant: appending transactions lock and raise it last, so ids follow commit order';

CREATE TABLE events (
  tenant_id   BIGINT        NOT NULL DEFAULT 0 COMMENT 'tenants.id',
  id          BIGINT        NOT NULL DEFAULT 0 COMMENT 'event id, increasing by one per tenant in commit order',
  type        VARCHAR(32)   NOT NULL DEFAULT '' COMMENT 'conversation.created, transcript.ready, tracker.matched, conversation.deleted or person.erased',
  occurred_at DATETIME(3)   NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT 'when the change was written (UTC)',
  data        VARCHAR(2048) NOT NULL DEFAULT '{}' COMMENT 'JSON object describing the change; ids only, no personal data',
  PRIMARY KEY (tenant_id, id),
  KEY idx_events_occurred (occurred_at)
) ENGINE=InnoDB COMMENT='partner event log per tenant, kept events.retention';

CREATE TABLE audit_logs (
  id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT COMMENT 'row id',
  tenant_id   BIGINT          NOT NULL DEFAULT 0 COMMENT 'tenants.id; 0 when the caller''s tenant is unknown (a sign-in with an unknown account)',
  seq         BIGINT          NOT NULL DEFAULT 0 COMMENT 'position in the tenant''s chain, from 1, without gaps',
  occurred_at DATETIME(3)     NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT 'when the operation ended (UTC)',
  actor_kind  VARCHAR(16)     NOT NULL DEFAULT '' COMMENT 'user, app, anonymous or system',
  actor_id    BIGINT          NOT NULL DEFAULT 0 COMMENT 'users.id or apps.id; 0 for anonymous and system',
  client_addr VARCHAR(64)     NOT NULL DEFAULT '' COMMENT 'client address (forwarded addresses only from trusted proxies)',
  operation   VARCHAR(64)     NOT NULL DEFAULT '' COMMENT 'what was done, e.g. conversation.create',
  target_type VARCHAR(32)     NOT NULL DEFAULT '' COMMENT 'kind of the target, e.g. conversation; empty when none',
  target_id   VARCHAR(64)     NOT NULL DEFAULT '' COMMENT 'id of the target; empty when none',
  result      VARCHAR(64)     NOT NULL DEFAULT '' COMMENT 'ok, or the reason of the error answered',
  request_id  VARCHAR(64)     NOT NULL DEFAULT '' COMMENT 'request id of the call',
  prev_hash   CHAR(64)        NOT NULL DEFAULT '' COMMENT 'hash of the record before it in the tenant''s chain (hex)',
  hash        CHAR(64)        NOT NULL DEFAULT '' COMMENT 'SHA-256 (hex) of prev_hash and the canonical record',
  PRIMARY KEY (id),
  UNIQUE KEY uniq_audit_logs_seq (tenant_id, seq),
  KEY idx_audit_logs_time (tenant_id, occurred_at, id)
) ENGINE=InnoDB COMMENT='audit trail: sign-ins, writes, transcript reads, searches, exports and erasures, hash-chained per tenant';

CREATE TABLE audit_heads (
  tenant_id   BIGINT      NOT NULL DEFAULT 0 COMMENT 'tenants.id (0: the chain of unknown tenants)',
  seq         BIGINT      NOT NULL DEFAULT 0 COMMENT 'seq of the newest record of the chain',
  hash        CHAR(64)    NOT NULL DEFAULT '' COMMENT 'hash of the newest record of the chain',
  anchor_seq  BIGINT      NOT NULL DEFAULT 0 COMMENT 'seq of the last record trimmed; 0 before any trim',
  anchor_hash CHAR(64)    NOT NULL DEFAULT '' COMMENT 'hash of the last record trimmed; verification starts from it',
  trimmed_at  DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT 'when the chain was last trimmed (UTC)',
  updated_at  DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT 'when the head last moved (UTC)',
  seal        CHAR(64)    NOT NULL DEFAULT '' COMMENT 'HMAC-SHA256 of the tenant, head, anchor and sealed_at under audit.chain_key; empty: never sealed',
  sealed_at   DATETIME(3) NULL DEFAULT NULL COMMENT 'when the seal began (UTC): the first seal, or the last audit seal',
  PRIMARY KEY (tenant_id)
) ENGINE=InnoDB COMMENT='head and trim anchor of each tenant''s audit chain; locked by every append and trim';

CREATE TABLE webhook_subscriptions (
  id              BIGINT UNSIGNED NOT NULL AUTO_INCREMENT COMMENT 'row id',
  tenant_id       BIGINT          NOT NULL DEFAULT 0 COMMENT 'tenants.id',
  app_id          BIGINT          NOT NULL DEFAULT 0 COMMENT 'apps.id of the owning app',
  url             VARCHAR(2048)   NOT NULL DEFAULT '' COMMENT 'receiver URL (https)',
  event_types     VARCHAR(255)    NOT NULL DEFAULT '' COMMENT 'event types delivered, comma separated',
  secret_sealed   VARCHAR(255)    NOT NULL DEFAULT '' COMMENT 'signing secret, AES-GCM encrypted with webhooks.secret_key',
  status          VARCHAR(16)     NOT NULL DEFAULT 'active' COMMENT 'active or disabled',
  disabled_reason VARCHAR(1000)   NOT NULL DEFAULT '' COMMENT 'why it was disabled',
  event_cursor    BIGINT          NOT NULL DEFAULT 0 COMMENT 'id of the last event delivered in order',
  attempts        INT             NOT NULL DEFAULT 0 COMMENT 'consecutive failed rounds of the event after the cursor',
  failing_since   DATETIME(3)     NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT 'first of the failed rounds (UTC); meaningful when attempts > 0',
  next_attempt_at DATETIME(3)     NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT 'when delivery may go on (UTC)',
  lease_until     DATETIME(3)     NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT 'lease of the delivering instance ends (UTC)',
  lease_owner     VARCHAR(64)     NOT NULL DEFAULT '' COMMENT 'the delivering instance',
  created_at      DATETIME(3)     NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT 'created (UTC)',
  updated_at      DATETIME(3)     NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT 'last changed (UTC)',
  old_secret_sealed VARCHAR(255)  NOT NULL DEFAULT '' COMMENT 'previous signing secret while its grace lasts, sealed as secret_sealed; empty when none',
  old_secret_until  DATETIME(3)   NULL DEFAULT NULL COMMENT 'end of the previous secret''s grace (UTC); NULL when none',
  redeliver_at    DATETIME(3)     NULL DEFAULT NULL COMMENT 'earliest next attempt of its pending redeliveries (UTC); NULL when none',
  PRIMARY KEY (id),
  KEY idx_webhook_subscriptions_app (tenant_id, app_id),
  KEY idx_webhook_subscriptions_due (status, next_attempt_at),
  KEY idx_webhook_subscriptions_work (tenant_id, status, event_cursor),
  KEY idx_webhook_subscriptions_redo (status, redeliver_at)
) ENGINE=InnoDB COMMENT='webhook subscriptions of apps, with their delivery progress';

CREATE TABLE webhook_deliveries (
  id              BIGINT UNSIGNED NOT NULL AUTO_INCREMENT COMMENT 'row id',
  tenant_id       BIGINT          NOT NULL DEFAULT 0 COMMENT 'tenants.id',
  subscription_id BIGINT          NOT NULL DEFAULT 0 COMMENT 'webhook_subscriptions.id',
  event_id        BIGINT          NOT NULL DEFAULT 0 COMMENT 'id of the event in the tenant log',
  event_type      VARCHAR(64)     NOT NULL DEFAULT '' COMMENT 'type of the event',
  redelivery      TINYINT         NOT NULL DEFAULT 0 COMMENT '1 when asked for again, outside the subscription order',
  status          VARCHAR(16)     NOT NULL DEFAULT 'pending' COMMENT 'pending, delivered or failed',
  attempts        INT             NOT NULL DEFAULT 0 COMMENT 'attempts made',
  response_code   INT             NOT NULL DEFAULT 0 COMMENT 'HTTP status of the last answer; 0 when none',
  latency_ms      BIGINT          NOT NULL DEFAULT 0 COMMENT 'duration of the last attempt',
  last_error      VARCHAR(1000)   NOT NULL DEFAULT '' COMMENT 'why the last attempt failed',
  created_at      DATETIME(3)     NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT 'created (UTC)',
  last_attempt_at DATETIME(3)     NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT 'end of the last attempt (UTC); meaningful when attempts > 0',
  next_attempt_at DATETIME(3)     NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT 'next attempt due (UTC) while pending',
  PRIMARY KEY (id),
  KEY idx_webhook_deliveries_event (subscription_id, event_id),
  KEY idx_webhook_deliveries_due (status, redelivery, next_attempt_at),
  KEY idx_webhook_deliveries_created (created_at),
  KEY idx_webhook_deliveries_pending (subscription_id, status, next_attempt_at)
) ENGINE=InnoDB COMMENT='delivery log of webhook subscriptions: one row per event delivered, with its attempts';

CREATE TABLE privacy_erasures (
  id                    BIGINT UNSIGNED NOT NULL AUTO_INCREMENT COMMENT 'job id',
  tenant_id             BIGINT          NOT NULL DEFAULT 0 COMMENT 'tenants.id',
  requested_by          BIGINT          NOT NULL DEFAULT 0 COMMENT 'users.id of the admin who started it',
  subject_kind          VARCHAR(16)     NOT NULL DEFAULT '' COMMENT 'email, phone, origin_user_id or name',
  subject               VARCHAR(255)    NOT NULL DEFAULT '' COMMENT 'the identifier being erased, normalised; cleared when the job ends',
  user_id               BIGINT          NOT NULL DEFAULT 0 COMMENT 'users.id of the internal user to anonymise; 0: none',
  status                VARCHAR(24)     NOT NULL DEFAULT 'pending' COMMENT 'awaiting_confirmation, pending, done or failed',
  conversations_total   INT             NOT NULL DEFAULT 0 COMMENT 'conversations it may delete: counted up to conversations_up_to when requested, counted again when more match',
  conversations_deleted INT             NOT NULL DEFAULT 0 COMMENT 'conversations deleted so far',
  users_anonymised      INT             NOT NULL DEFAULT 0 COMMENT 'internal users anonymised (0 or 1)',
  lease_owner           VARCHAR(64)     NOT NULL DEFAULT '' COMMENT 'instance working on it',
  lease_until           DATETIME(3)     NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT 'until when that instance holds it (UTC)',
  last_error            VARCHAR(1024)   NOT NULL DEFAULT '' COMMENT 'error of the last attempt',
  created_at            DATETIME(3)     NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT 'created (UTC)',
  updated_at            DATETIME(3)     NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT 'last changed (UTC)',
  finished_at           DATETIME(3)     NULL DEFAULT NULL COMMENT 'when it ended (UTC)',
  conversations_up_to   BIGINT          NULL DEFAULT NULL COMMENT 'the tenant''s highest conversations.id when the job was requested: it deletes none above; NULL: a job from before 0016 not taken up since',
  conversations_redacted BIGINT         NOT NULL DEFAULT 0 COMMENT 'conversations whose free text had the person''s email or phone, rewritten',
  deals_redacted        BIGINT          NOT NULL DEFAULT 0 COMMENT 'deals whose name or account name had the person''s email or phone, rewritten',
  mentions_after        BIGINT          NOT NULL DEFAULT 0 COMMENT 'the last conversations.id read for mentions of the person',
  mentions_since        DATETIME(3)     NULL DEFAULT NULL COMMENT 'when the job began reading for mentions (UTC, less 10 s for the clocks of other instances); NULL: not yet',
  PRIMARY KEY (id),
  KEY idx_privacy_erasures_due (status, lease_until),
  KEY idx_privacy_erasures_tenant (tenant_id, id)
) ENGINE=InnoDB COMMENT='personal-data erasure jobs, claimed with a lease and resumed after a restart';

CREATE TABLE retention_runs (
  tenant_id   BIGINT      NOT NULL DEFAULT 0 COMMENT 'tenants.id',
  last_run_at DATETIME(3) NOT NULL DEFAULT '1970-01-01 00:00:00.000' COMMENT 'when its last run finished (UTC)',
  lease_owner VARCHAR(64) NOT NULL DEFAULT '' COMMENT 'instance running it',
  lease_until DATETIME(3) NOT NULL DEFAULT '1970-01-01 00:00:00.000' COMMENT 'until when that instance holds it (UTC)',
  deleted     BIGINT      NOT NULL DEFAULT 0 COMMENT 'conversations its last run deleted',
  PRIMARY KEY (tenant_id)
) ENGINE=InnoDB COMMENT='daily retention run per tenant, claimed with a lease so instances do not collide';

-- 0001_init: the conversation-intelligence core.
-- The embedded (SQLite) dialect of the same schema as mysql/0001_init.sql.
-- Every table carries tenant_id; every filter and sort of the API has an index.

CREATE TABLE tenants (
  id         INTEGER       NOT NULL PRIMARY KEY AUTOINCREMENT,
  name       VARCHAR(255) NOT NULL,
  timezone   VARCHAR(64)  NOT NULL DEFAULT 'Asia/Shanghai',
  rate_tier  VARCHAR(32)  NOT NULL DEFAULT 'standard',
  created_at DATETIME     NOT NULL,
  updated_at DATETIME     NOT NULL
);

CREATE TABLE departments (
  id                   INTEGER       NOT NULL PRIMARY KEY AUTOINCREMENT,
  tenant_id            BIGINT       NOT NULL,
  parent_id            BIGINT       NULL,
  origin_department_id VARCHAR(128) NULL,
  name                 VARCHAR(255) NOT NULL,
  path                 VARCHAR(512) NOT NULL DEFAULT '',
  created_at           DATETIME     NOT NULL,
  updated_at           DATETIME     NOT NULL
);
CREATE UNIQUE INDEX uk_departments_origin ON departments (tenant_id, origin_department_id);
CREATE INDEX idx_departments_path ON departments (tenant_id, path);

CREATE TABLE users (
  id             INTEGER       NOT NULL PRIMARY KEY AUTOINCREMENT,
  tenant_id      BIGINT       NOT NULL,
  department_id  BIGINT       NULL,
  name           VARCHAR(255) NOT NULL,
  email          VARCHAR(255) NULL,
  phone          VARCHAR(32)  NULL,
  role           VARCHAR(16)  NOT NULL DEFAULT 'rep',
  status         VARCHAR(16)  NOT NULL DEFAULT 'active',
  origin_user_id VARCHAR(128) NULL,
  password_hash  VARCHAR(255) NOT NULL DEFAULT '',
  created_at     DATETIME     NOT NULL,
  updated_at     DATETIME     NOT NULL
);
CREATE UNIQUE INDEX uk_users_email ON users (email);
CREATE UNIQUE INDEX uk_users_phone ON users (phone);
CREATE UNIQUE INDEX uk_users_origin ON users (tenant_id, origin_user_id);
CREATE INDEX idx_users_department ON users (tenant_id, department_id);

CREATE TABLE apps (
  id          INTEGER       NOT NULL PRIMARY KEY AUTOINCREMENT,
  tenant_id   BIGINT       NOT NULL,
  name        VARCHAR(255) NOT NULL,
  app_key     VARCHAR(64)  NOT NULL,
  secret_hash VARCHAR(255) NOT NULL,
  scopes      VARCHAR(255) NOT NULL DEFAULT '',
  rate_tier   VARCHAR(32)  NOT NULL DEFAULT 'standard',
  created_at  DATETIME     NOT NULL
);
CREATE UNIQUE INDEX uk_apps_key ON apps (app_key);
CREATE INDEX idx_apps_tenant ON apps (tenant_id);

CREATE TABLE refresh_tokens (
  id         INTEGER      NOT NULL PRIMARY KEY AUTOINCREMENT,
  tenant_id  BIGINT      NOT NULL,
  user_id    BIGINT      NOT NULL,
  family_id  CHAR(32)    NOT NULL,
  token_hash CHAR(64)    NOT NULL,
  expires_at DATETIME    NOT NULL,
  used_at    DATETIME    NULL,
  revoked_at DATETIME    NULL,
  created_at DATETIME    NOT NULL
);
CREATE UNIQUE INDEX uk_refresh_tokens_hash ON refresh_tokens (token_hash);
CREATE INDEX idx_refresh_tokens_family ON refresh_tokens (family_id);

CREATE TABLE deals (
  id             INTEGER       NOT NULL PRIMARY KEY AUTOINCREMENT,
  tenant_id      BIGINT       NOT NULL,
  origin_deal_id VARCHAR(128) NOT NULL,
  name           VARCHAR(255) NOT NULL,
  account_name   VARCHAR(255) NOT NULL DEFAULT '',
  stage          VARCHAR(64)  NOT NULL DEFAULT '',
  amount_cents   BIGINT       NOT NULL DEFAULT 0,
  owner_user_id  BIGINT       NULL,
  created_at     DATETIME     NOT NULL,
  updated_at     DATETIME     NOT NULL
);
CREATE UNIQUE INDEX uk_deals_origin ON deals (tenant_id, origin_deal_id);

CREATE TABLE conversations (
  id                     INTEGER       NOT NULL PRIMARY KEY AUTOINCREMENT,
  tenant_id              BIGINT       NOT NULL,
  origin_conversation_id VARCHAR(128) NOT NULL,
  owner_user_id          BIGINT       NOT NULL,
  deal_id                BIGINT       NULL,
  title                  VARCHAR(255) NOT NULL DEFAULT '',
  channel                VARCHAR(16)  NOT NULL DEFAULT 'call',
  direction              VARCHAR(16)  NOT NULL DEFAULT 'unknown',
  begin_time             DATETIME     NOT NULL,
  duration_ms            BIGINT       NOT NULL DEFAULT 0,
  language               VARCHAR(16)  NOT NULL DEFAULT '',
  status                 VARCHAR(16)  NOT NULL DEFAULT 'pending',
  custom_data            TEXT         NULL,
  request_hash           CHAR(64)     NOT NULL DEFAULT '',
  transcript_version     BIGINT       NOT NULL DEFAULT 0,
  sentence_count         INT          NOT NULL DEFAULT 0,
  created_at             DATETIME     NOT NULL,
  updated_at             DATETIME     NOT NULL
);
CREATE UNIQUE INDEX uk_conversations_origin ON conversations (tenant_id, origin_conversation_id);
CREATE INDEX idx_conversations_time ON conversations (tenant_id, begin_time, id);
CREATE INDEX idx_conversations_owner ON conversations (tenant_id, owner_user_id, begin_time, id);
CREATE INDEX idx_conversations_deal ON conversations (tenant_id, deal_id, begin_time);
CREATE INDEX idx_conversations_direction ON conversations (tenant_id, direction, begin_time);
CREATE INDEX idx_conversations_duration ON conversations (tenant_id, duration_ms);

CREATE TABLE participants (
  id              INTEGER       NOT NULL PRIMARY KEY AUTOINCREMENT,
  tenant_id       BIGINT       NOT NULL,
  conversation_id BIGINT       NOT NULL,
  speaker_key     VARCHAR(64)  NOT NULL,
  user_id         BIGINT       NULL,
  name            VARCHAR(255) NOT NULL DEFAULT '',
  affiliation     VARCHAR(16)  NOT NULL DEFAULT 'unknown'
);
CREATE UNIQUE INDEX uk_participants_speaker ON participants (conversation_id, speaker_key);

CREATE TABLE sentences (
  conversation_id BIGINT      NOT NULL,
  seq             INT         NOT NULL,
  tenant_id       BIGINT      NOT NULL,
  speaker_key     VARCHAR(64) NOT NULL,
  start_ms        BIGINT      NOT NULL,
  end_ms          BIGINT      NOT NULL,
  text            TEXT        NOT NULL,
  PRIMARY KEY (conversation_id, seq)
);

CREATE TABLE conversation_metrics (
  conversation_id           BIGINT      NOT NULL,
  tenant_id                 BIGINT      NOT NULL,
  algo_version              INT         NOT NULL,
  talk_ratio                REAL        NOT NULL,
  longest_monologue_ms      BIGINT      NOT NULL,
  longest_customer_story_ms BIGINT      NOT NULL,
  interactivity             REAL        NOT NULL,
  patience_ms               BIGINT      NOT NULL,
  question_count_internal   INT         NOT NULL,
  question_count_external   INT         NOT NULL,
  question_rate             REAL        NOT NULL,
  silence_ms                BIGINT      NOT NULL,
  computed_at               DATETIME    NOT NULL,
  PRIMARY KEY (conversation_id)
);

CREATE TABLE trackers (
  id          INTEGER       NOT NULL PRIMARY KEY AUTOINCREMENT,
  tenant_id   BIGINT       NOT NULL,
  name        VARCHAR(255) NOT NULL,
  keywords    TEXT         NOT NULL,
  affiliation VARCHAR(16)  NOT NULL DEFAULT 'anyone',
  version     BIGINT       NOT NULL DEFAULT 1,
  created_at  DATETIME     NOT NULL,
  updated_at  DATETIME     NOT NULL,
  deleted_at  DATETIME     NULL
);
CREATE INDEX idx_trackers_tenant ON trackers (tenant_id, deleted_at);

CREATE TABLE tracker_hits (
  id              INTEGER       NOT NULL PRIMARY KEY AUTOINCREMENT,
  tenant_id       BIGINT       NOT NULL,
  tracker_id      BIGINT       NOT NULL,
  conversation_id BIGINT       NOT NULL,
  seq             INT          NOT NULL,
  start_ms        BIGINT       NOT NULL,
  speaker_key     VARCHAR(64)  NOT NULL,
  phrase          VARCHAR(255) NOT NULL
);
CREATE INDEX idx_tracker_hits_tracker ON tracker_hits (tenant_id, tracker_id, conversation_id);
CREATE INDEX idx_tracker_hits_conversation ON tracker_hits (conversation_id, tracker_id);

CREATE TABLE comments (
  id              INTEGER      NOT NULL PRIMARY KEY AUTOINCREMENT,
  tenant_id       BIGINT      NOT NULL,
  conversation_id BIGINT      NOT NULL,
  author_user_id  BIGINT      NOT NULL,
  start_ms        BIGINT      NOT NULL DEFAULT 0,
  text            TEXT        NOT NULL,
  reply_to        BIGINT      NULL,
  created_at      DATETIME    NOT NULL,
  deleted_at      DATETIME    NULL
);
CREATE INDEX idx_comments_conversation ON comments (tenant_id, conversation_id, start_ms);

CREATE TABLE outbox (
  id              INTEGER       NOT NULL PRIMARY KEY AUTOINCREMENT,
  tenant_id       BIGINT       NOT NULL,
  kind            VARCHAR(32)  NOT NULL,
  conversation_id BIGINT       NOT NULL DEFAULT 0,
  tracker_id      BIGINT       NOT NULL DEFAULT 0,
  version         BIGINT       NOT NULL DEFAULT 0,
  attempts        INT          NOT NULL DEFAULT 0,
  next_attempt_at DATETIME     NOT NULL,
  last_error      VARCHAR(1024) NOT NULL DEFAULT '',
  created_at      DATETIME     NOT NULL
);
CREATE INDEX idx_outbox_due ON outbox (kind, next_attempt_at, id);

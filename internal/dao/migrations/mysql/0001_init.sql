-- 0001_init: the conversation-intelligence core.
-- Every table carries tenant_id; every filter and sort of the API has an index.

CREATE TABLE tenants (
  id         BIGINT       NOT NULL AUTO_INCREMENT,
  name       VARCHAR(255) NOT NULL,
  timezone   VARCHAR(64)  NOT NULL DEFAULT 'Asia/Shanghai',
  rate_tier  VARCHAR(32)  NOT NULL DEFAULT 'standard',
  created_at DATETIME(3)  NOT NULL,
  updated_at DATETIME(3)  NOT NULL,
  PRIMARY KEY (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE departments (
  id                   BIGINT       NOT NULL AUTO_INCREMENT,
  tenant_id            BIGINT       NOT NULL,
  parent_id            BIGINT       NULL,
  origin_department_id VARCHAR(128) NULL,
  name                 VARCHAR(255) NOT NULL,
  path                 VARCHAR(512) NOT NULL DEFAULT '',
  created_at           DATETIME(3)  NOT NULL,
  updated_at           DATETIME(3)  NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uk_departments_origin (tenant_id, origin_department_id),
  KEY idx_departments_path (tenant_id, path(191))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE users (
  id             BIGINT       NOT NULL AUTO_INCREMENT,
  tenant_id      BIGINT       NOT NULL,
  department_id  BIGINT       NULL,
  name           VARCHAR(255) NOT NULL,
  email          VARCHAR(255) NULL,
  phone          VARCHAR(32)  NULL,
  role           VARCHAR(16)  NOT NULL DEFAULT 'rep',
  status         VARCHAR(16)  NOT NULL DEFAULT 'active',
  origin_user_id VARCHAR(128) NULL,
  password_hash  VARCHAR(255) NOT NULL DEFAULT '',
  created_at     DATETIME(3)  NOT NULL,
  updated_at     DATETIME(3)  NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uk_users_email (email),
  UNIQUE KEY uk_users_phone (phone),
  UNIQUE KEY uk_users_origin (tenant_id, origin_user_id),
  KEY idx_users_department (tenant_id, department_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE apps (
  id          BIGINT       NOT NULL AUTO_INCREMENT,
  tenant_id   BIGINT       NOT NULL,
  name        VARCHAR(255) NOT NULL,
  app_key     VARCHAR(64)  NOT NULL,
  secret_hash VARCHAR(255) NOT NULL,
  scopes      VARCHAR(255) NOT NULL DEFAULT '',
  rate_tier   VARCHAR(32)  NOT NULL DEFAULT 'standard',
  created_at  DATETIME(3)  NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uk_apps_key (app_key),
  KEY idx_apps_tenant (tenant_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE refresh_tokens (
  id         BIGINT      NOT NULL AUTO_INCREMENT,
  tenant_id  BIGINT      NOT NULL,
  user_id    BIGINT      NOT NULL,
  family_id  CHAR(32)    NOT NULL,
  token_hash CHAR(64)    NOT NULL,
  expires_at DATETIME(3) NOT NULL,
  used_at    DATETIME(3) NULL,
  revoked_at DATETIME(3) NULL,
  created_at DATETIME(3) NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uk_refresh_tokens_hash (token_hash),
  KEY idx_refresh_tokens_family (family_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE deals (
  id             BIGINT       NOT NULL AUTO_INCREMENT,
  tenant_id      BIGINT       NOT NULL,
  origin_deal_id VARCHAR(128) NOT NULL,
  name           VARCHAR(255) NOT NULL,
  account_name   VARCHAR(255) NOT NULL DEFAULT '',
  stage          VARCHAR(64)  NOT NULL DEFAULT '',
  amount_cents   BIGINT       NOT NULL DEFAULT 0,
  owner_user_id  BIGINT       NULL,
  created_at     DATETIME(3)  NOT NULL,
  updated_at     DATETIME(3)  NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uk_deals_origin (tenant_id, origin_deal_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE conversations (
  id                     BIGINT       NOT NULL AUTO_INCREMENT,
  tenant_id              BIGINT       NOT NULL,
  origin_conversation_id VARCHAR(128) NOT NULL,
  owner_user_id          BIGINT       NOT NULL,
  deal_id                BIGINT       NULL,
  title                  VARCHAR(255) NOT NULL DEFAULT '',
  channel                VARCHAR(16)  NOT NULL DEFAULT 'call',
  direction              VARCHAR(16)  NOT NULL DEFAULT 'unknown',
  begin_time             DATETIME(3)  NOT NULL,
  duration_ms            BIGINT       NOT NULL DEFAULT 0,
  language               VARCHAR(16)  NOT NULL DEFAULT '',
  status                 VARCHAR(16)  NOT NULL DEFAULT 'pending',
  custom_data            JSON         NULL,
  request_hash           CHAR(64)     NOT NULL DEFAULT '',
  transcript_version     BIGINT       NOT NULL DEFAULT 0,
  sentence_count         INT          NOT NULL DEFAULT 0,
  created_at             DATETIME(3)  NOT NULL,
  updated_at             DATETIME(3)  NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uk_conversations_origin (tenant_id, origin_conversation_id),
  KEY idx_conversations_time (tenant_id, begin_time, id),
  KEY idx_conversations_owner (tenant_id, owner_user_id, begin_time, id),
  KEY idx_conversations_deal (tenant_id, deal_id, begin_time),
  KEY idx_conversations_direction (tenant_id, direction, begin_time),
  KEY idx_conversations_duration (tenant_id, duration_ms)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE participants (
  id              BIGINT       NOT NULL AUTO_INCREMENT,
  tenant_id       BIGINT       NOT NULL,
  conversation_id BIGINT       NOT NULL,
  speaker_key     VARCHAR(64)  NOT NULL,
  user_id         BIGINT       NULL,
  name            VARCHAR(255) NOT NULL DEFAULT '',
  affiliation     VARCHAR(16)  NOT NULL DEFAULT 'unknown',
  PRIMARY KEY (id),
  UNIQUE KEY uk_participants_speaker (conversation_id, speaker_key)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE sentences (
  conversation_id BIGINT      NOT NULL,
  seq             INT         NOT NULL,
  tenant_id       BIGINT      NOT NULL,
  speaker_key     VARCHAR(64) NOT NULL,
  start_ms        BIGINT      NOT NULL,
  end_ms          BIGINT      NOT NULL,
  text            TEXT        NOT NULL,
  PRIMARY KEY (conversation_id, seq)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE conversation_metrics (
  conversation_id           BIGINT      NOT NULL,
  tenant_id                 BIGINT      NOT NULL,
  algo_version              INT         NOT NULL,
  talk_ratio                DOUBLE      NOT NULL,
  longest_monologue_ms      BIGINT      NOT NULL,
  longest_customer_story_ms BIGINT      NOT NULL,
  interactivity             DOUBLE      NOT NULL,
  patience_ms               BIGINT      NOT NULL,
  question_count_internal   INT         NOT NULL,
  question_count_external   INT         NOT NULL,
  question_rate             DOUBLE      NOT NULL,
  silence_ms                BIGINT      NOT NULL,
  computed_at               DATETIME(3) NOT NULL,
  PRIMARY KEY (conversation_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE trackers (
  id          BIGINT       NOT NULL AUTO_INCREMENT,
  tenant_id   BIGINT       NOT NULL,
  name        VARCHAR(255) NOT NULL,
  keywords    JSON         NOT NULL,
  affiliation VARCHAR(16)  NOT NULL DEFAULT 'anyone',
  version     BIGINT       NOT NULL DEFAULT 1,
  created_at  DATETIME(3)  NOT NULL,
  updated_at  DATETIME(3)  NOT NULL,
  deleted_at  DATETIME(3)  NULL,
  PRIMARY KEY (id),
  KEY idx_trackers_tenant (tenant_id, deleted_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE tracker_hits (
  id              BIGINT       NOT NULL AUTO_INCREMENT,
  tenant_id       BIGINT       NOT NULL,
  tracker_id      BIGINT       NOT NULL,
  conversation_id BIGINT       NOT NULL,
  seq             INT          NOT NULL,
  start_ms        BIGINT       NOT NULL,
  speaker_key     VARCHAR(64)  NOT NULL,
  phrase          VARCHAR(255) NOT NULL,
  PRIMARY KEY (id),
  KEY idx_tracker_hits_tracker (tenant_id, tracker_id, conversation_id),
  KEY idx_tracker_hits_conversation (conversation_id, tracker_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE comments (
  id              BIGINT      NOT NULL AUTO_INCREMENT,
  tenant_id       BIGINT      NOT NULL,
  conversation_id BIGINT      NOT NULL,
  author_user_id  BIGINT      NOT NULL,
  start_ms        BIGINT      NOT NULL DEFAULT 0,
  text            TEXT        NOT NULL,
  reply_to        BIGINT      NULL,
  created_at      DATETIME(3) NOT NULL,
  deleted_at      DATETIME(3) NULL,
  PRIMARY KEY (id),
  KEY idx_comments_conversation (tenant_id, conversation_id, start_ms)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE outbox (
  id              BIGINT       NOT NULL AUTO_INCREMENT,
  tenant_id       BIGINT       NOT NULL,
  kind            VARCHAR(32)  NOT NULL,
  conversation_id BIGINT       NOT NULL DEFAULT 0,
  tracker_id      BIGINT       NOT NULL DEFAULT 0,
  version         BIGINT       NOT NULL DEFAULT 0,
  attempts        INT          NOT NULL DEFAULT 0,
  next_attempt_at DATETIME(3)  NOT NULL,
  last_error      VARCHAR(1024) NOT NULL DEFAULT '',
  created_at      DATETIME(3)  NOT NULL,
  PRIMARY KEY (id),
  KEY idx_outbox_due (kind, next_attempt_at, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

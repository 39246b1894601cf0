-- 0012_webhooks: webhook subscriptions of apps and their delivery log. A
-- subscription is delivered by one instance at a time, the one holding its
-- lease; its cursor is the last event delivered in order.

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
  PRIMARY KEY (id),
  KEY idx_webhook_subscriptions_app (tenant_id, app_id),
  KEY idx_webhook_subscriptions_due (status, next_attempt_at)
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
  KEY idx_webhook_deliveries_created (created_at)
) ENGINE=InnoDB COMMENT='delivery log of webhook subscriptions: one row per event delivered, with its attempts';

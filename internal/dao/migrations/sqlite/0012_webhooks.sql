-- 0012_webhooks: webhook subscriptions and their delivery log (see the
-- MySQL migration of the same number).

CREATE TABLE IF NOT EXISTS webhook_subscriptions (
  id              INTEGER  PRIMARY KEY AUTOINCREMENT,
  tenant_id       INTEGER  NOT NULL DEFAULT 0,
  app_id          INTEGER  NOT NULL DEFAULT 0,
  url             TEXT     NOT NULL DEFAULT '',
  event_types     TEXT     NOT NULL DEFAULT '',
  secret_sealed   TEXT     NOT NULL DEFAULT '',
  status          TEXT     NOT NULL DEFAULT 'active',
  disabled_reason TEXT     NOT NULL DEFAULT '',
  event_cursor    INTEGER  NOT NULL DEFAULT 0,
  attempts        INTEGER  NOT NULL DEFAULT 0,
  failing_since   DATETIME NOT NULL,
  next_attempt_at DATETIME NOT NULL,
  lease_until     DATETIME NOT NULL,
  lease_owner     TEXT     NOT NULL DEFAULT '',
  created_at      DATETIME NOT NULL,
  updated_at      DATETIME NOT NULL
);

CREATE INDEX IF NOT EXISTS idx_webhook_subscriptions_app ON webhook_subscriptions (tenant_id, app_id);
CREATE INDEX IF NOT EXISTS idx_webhook_subscriptions_due ON webhook_subscriptions (status, next_attempt_at);

CREATE TABLE IF NOT EXISTS webhook_deliveries (
  id              INTEGER  PRIMARY KEY AUTOINCREMENT,
  tenant_id       INTEGER  NOT NULL DEFAULT 0,
  subscription_id INTEGER  NOT NULL DEFAULT 0,
  event_id        INTEGER  NOT NULL DEFAULT 0,
  event_type      TEXT     NOT NULL DEFAULT '',
  redelivery      INTEGER  NOT NULL DEFAULT 0,
  status          TEXT     NOT NULL DEFAULT 'pending',
  attempts        INTEGER  NOT NULL DEFAULT 0,
  response_code   INTEGER  NOT NULL DEFAULT 0,
  latency_ms      INTEGER  NOT NULL DEFAULT 0,
  last_error      TEXT     NOT NULL DEFAULT '',
  created_at      DATETIME NOT NULL,
  last_attempt_at DATETIME NOT NULL,
  next_attempt_at DATETIME NOT NULL
);

CREATE INDEX IF NOT EXISTS idx_webhook_deliveries_event ON webhook_deliveries (subscription_id, event_id);
CREATE INDEX IF NOT EXISTS idx_webhook_deliveries_due ON webhook_deliveries (status, redelivery, next_attempt_at);
CREATE INDEX IF NOT EXISTS idx_webhook_deliveries_created ON webhook_deliveries (created_at);

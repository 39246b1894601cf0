-- 0018_webhook_work: the webhook subscriptions that have work (see the
-- MySQL migration of the same number).

CREATE INDEX IF NOT EXISTS idx_webhook_subscriptions_work ON webhook_subscriptions (tenant_id, status, event_cursor);

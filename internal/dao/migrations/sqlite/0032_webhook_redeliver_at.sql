-- 0032_webhook_redeliver_at: the earliest due time of a subscription's
-- pending redeliveries, kept on its row (see the MySQL migration of the
-- same number).

CREATE INDEX IF NOT EXISTS idx_webhook_deliveries_pending ON webhook_deliveries (subscription_id, status, next_attempt_at);
ALTER TABLE webhook_subscriptions ADD COLUMN redeliver_at DATETIME NULL;
CREATE INDEX IF NOT EXISTS idx_webhook_subscriptions_redo ON webhook_subscriptions (status, redeliver_at);

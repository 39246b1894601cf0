-- 0032_webhook_redeliver_at: the earliest due time of a subscription's
-- pending redeliveries, kept on its row. The deliverer looks for
-- subscriptions with a redelivery due several times a second on every
-- instance: it grouped every due pending redelivery of every tenant to find
-- them, which a tenant holding a million of them (a thousand on each of a
-- thousand subscriptions) made take seconds for everyone. It now reads the
-- subscriptions by (status, redeliver_at). The key on the delivery log by
-- subscription and status finds one subscription's pending deliveries
-- (its earliest pending redelivery, written back on its row whenever its
-- redeliveries change, its due ones and how many are pending) among its
-- own rows alone. The service fills the column for the redeliveries
-- already pending when it starts (migrations carry DDL only).

ALTER TABLE webhook_deliveries
  ADD KEY idx_webhook_deliveries_pending (subscription_id, status, next_attempt_at);

ALTER TABLE webhook_subscriptions
  ADD COLUMN redeliver_at DATETIME(3) NULL DEFAULT NULL COMMENT 'earliest next attempt of its pending redeliveries (UTC); NULL when none',
  ADD KEY idx_webhook_subscriptions_redo (status, redeliver_at);

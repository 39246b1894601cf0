-- 0020_webhook_secret_rotation: a subscription's signing secret is rotated
-- with a grace, during which deliveries carry a signature by the previous
-- secret too.

ALTER TABLE webhook_subscriptions
  ADD COLUMN old_secret_sealed VARCHAR(255) NOT NULL DEFAULT '' COMMENT 'previous signing secret while its grace lasts, sealed as secret_sealed; empty when none',
  ADD COLUMN old_secret_until  DATETIME(3)  NULL DEFAULT NULL COMMENT 'end of the previous secret''s grace (UTC); NULL when none';

-- 0020_webhook_secret_rotation: the previous signing secret of a
-- subscription while its grace lasts (see the MySQL migration of the same
-- number).

ALTER TABLE webhook_subscriptions ADD COLUMN old_secret_sealed TEXT NOT NULL DEFAULT '';
ALTER TABLE webhook_subscriptions ADD COLUMN old_secret_until DATETIME NULL;

-- 0018_webhook_work: the webhook subscriptions that have work.
-- The deliverer looks for subscriptions behind their tenant's newest event
-- (event_cursor < event_seqs.last_id) several times a second; by tenant and
-- status, the key finds them from the cursor alone, without reading the
-- idle subscriptions, however many there are.

ALTER TABLE webhook_subscriptions
  ADD KEY idx_webhook_subscriptions_work (tenant_id, status, event_cursor);

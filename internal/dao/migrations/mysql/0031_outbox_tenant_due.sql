-- 0031_outbox_tenant_due: the due search jobs of each tenant, oldest due
-- first. A claim of the search indexer gives every tenant with due jobs
-- its share: it looks up which tenants have due jobs of a kind (MySQL
-- jumps from one tenant to the next in this index, reading the first due
-- entry of each, however long its backlog) and then reads each tenant's
-- oldest due jobs in the index's order (InnoDB appends the primary key,
-- id, which breaks ties). Adding an index is online on MariaDB.

ALTER TABLE outbox
  ADD KEY idx_outbox_tenant_due (kind, tenant_id, next_attempt_at);

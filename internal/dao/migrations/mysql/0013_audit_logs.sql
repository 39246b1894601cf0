-- 0013_audit_logs: the audit trail (PRODUCT §8). Records are appended in
-- batches, hash-chained per tenant: each record's hash is
-- SHA-256(previous hash, canonical record). audit_heads holds each chain's
-- newest link and is locked in every append transaction, so instances
-- append to one tenant's chain one after the other; it also holds the
-- anchor (the last trimmed link), where verification starts after a trim.

CREATE TABLE audit_logs (
  id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT COMMENT 'row id',
  tenant_id   BIGINT          NOT NULL DEFAULT 0 COMMENT 'tenants.id; 0 when the caller''s tenant is unknown (a sign-in with an unknown account)',
  seq         BIGINT          NOT NULL DEFAULT 0 COMMENT 'position in the tenant''s chain, from 1, without gaps',
  occurred_at DATETIME(3)     NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT 'when the operation ended (UTC)',
  actor_kind  VARCHAR(16)     NOT NULL DEFAULT '' COMMENT 'user, app, anonymous or system',
  actor_id    BIGINT          NOT NULL DEFAULT 0 COMMENT 'users.id or apps.id; 0 for anonymous and system',
  client_addr VARCHAR(64)     NOT NULL DEFAULT '' COMMENT 'client address (forwarded addresses only from trusted proxies)',
  operation   VARCHAR(64)     NOT NULL DEFAULT '' COMMENT 'what was done, e.g. conversation.create',
  target_type VARCHAR(32)     NOT NULL DEFAULT '' COMMENT 'kind of the target, e.g. conversation; empty when none',
  target_id   VARCHAR(64)     NOT NULL DEFAULT '' COMMENT 'id of the target; empty when none',
  result      VARCHAR(64)     NOT NULL DEFAULT '' COMMENT 'ok, or the reason of the error answered',
  request_id  VARCHAR(64)     NOT NULL DEFAULT '' COMMENT 'request id of the call',
  prev_hash   CHAR(64)        NOT NULL DEFAULT '' COMMENT 'hash of the record before it in the tenant''s chain (hex)',
  hash        CHAR(64)        NOT NULL DEFAULT '' COMMENT 'SHA-256 (hex) of prev_hash and the canonical record',
  PRIMARY KEY (id),
  UNIQUE KEY uniq_audit_logs_seq (tenant_id, seq),
  KEY idx_audit_logs_time (tenant_id, occurred_at, id)
) ENGINE=InnoDB COMMENT='audit trail: sign-ins, writes, transcript reads, searches, exports and erasures, hash-chained per tenant';

CREATE TABLE audit_heads (
  tenant_id   BIGINT      NOT NULL DEFAULT 0 COMMENT 'tenants.id (0: the chain of unknown tenants)',
  seq         BIGINT      NOT NULL DEFAULT 0 COMMENT 'seq of the newest record of the chain',
  hash        CHAR(64)    NOT NULL DEFAULT '' COMMENT 'hash of the newest record of the chain',
  anchor_seq  BIGINT      NOT NULL DEFAULT 0 COMMENT 'seq of the last record trimmed; 0 before any trim',
  anchor_hash CHAR(64)    NOT NULL DEFAULT '' COMMENT 'hash of the last record trimmed; verification starts from it',
  trimmed_at  DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT 'when the chain was last trimmed (UTC)',
  updated_at  DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT 'when the head last moved (UTC)',
  PRIMARY KEY (tenant_id)
) ENGINE=InnoDB COMMENT='head and trim anchor of each tenant''s audit chain; locked by every append and trim';

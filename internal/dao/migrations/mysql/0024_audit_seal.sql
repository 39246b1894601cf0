-- 0024_audit_seal: each chain's head and anchor are sealed with a key kept
-- outside the database (audit.chain_key), so that records rewritten with
-- their head, or ends moved over deleted records, no longer verify. Chains
-- written before have no seal: every start seals those as they stand, and
-- logs it. Adding columns at the end is instant on MariaDB.

ALTER TABLE audit_heads
  ADD COLUMN seal      CHAR(64)    NOT NULL DEFAULT '' COMMENT 'HMAC-SHA256 of the tenant, head, anchor and sealed_at under audit.chain_key; empty: never sealed',
  ADD COLUMN sealed_at DATETIME(3) NULL DEFAULT NULL COMMENT 'when the seal began (UTC): the first seal, or the last audit seal';

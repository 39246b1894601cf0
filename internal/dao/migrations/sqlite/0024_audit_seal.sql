-- 0024_audit_seal: the seal of each chain's head and anchor under
-- audit.chain_key (see the MySQL migration of the same number).

ALTER TABLE audit_heads ADD COLUMN seal TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_heads ADD COLUMN sealed_at DATETIME NULL;

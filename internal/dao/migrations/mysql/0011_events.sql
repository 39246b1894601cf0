-- 0011_events: the partner event log. Each change partners can learn of
-- (conversation created, transcript ready, tracker hits changed,
-- conversation deleted, person erased) appends an event in the transaction
-- of the change. Ids come from a sequence row per tenant that the appending
-- transaction locks and raises as its last statement, so ids are handed out
-- in commit order: once a reader sees id N, every id below N has committed
-- too, and a reader resuming after N never misses one. Events are trimmed
-- after events.retention; trimmed_through tells a cursor that fell behind.

CREATE TABLE event_seqs (
  tenant_id       BIGINT      NOT NULL DEFAULT 0 COMMENT 'tenants.id',
  last_id         BIGINT      NOT NULL DEFAULT 0 COMMENT 'id of the newest event of the tenant',
  trimmed_through BIGINT      NOT NULL DEFAULT 0 COMMENT 'every event up to this id was trimmed by retention',
  updated_at      DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT 'last event appended (UTC); readers poll by it',
  PRIMARY KEY (tenant_id)
) ENGINE=InnoDB COMMENT='event id sequence per tenant: appending transactions lock and raise it last, so ids follow commit order';

CREATE TABLE events (
  tenant_id   BIGINT        NOT NULL DEFAULT 0 COMMENT 'tenants.id',
  id          BIGINT        NOT NULL DEFAULT 0 COMMENT 'event id, increasing by one per tenant in commit order',
  type        VARCHAR(32)   NOT NULL DEFAULT '' COMMENT 'conversation.created, transcript.ready, tracker.matched, conversation.deleted or person.erased',
  occurred_at DATETIME(3)   NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT 'when the change was written (UTC)',
  data        VARCHAR(2048) NOT NULL DEFAULT '{}' COMMENT 'JSON object describing the change; ids only, no personal data',
  PRIMARY KEY (tenant_id, id),
  KEY idx_events_occurred (occurred_at)
) ENGINE=InnoDB COMMENT='partner event log per tenant, kept events.retention';

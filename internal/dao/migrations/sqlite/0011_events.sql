-- 0011_events: the partner event log (see the MySQL migration of the same
-- number).

CREATE TABLE IF NOT EXISTS event_seqs (
  tenant_id       INTEGER  PRIMARY KEY,
  last_id         INTEGER  NOT NULL DEFAULT 0,
  trimmed_through INTEGER  NOT NULL DEFAULT 0,
  updated_at      DATETIME NOT NULL
);

CREATE TABLE IF NOT EXISTS events (
  tenant_id   INTEGER  NOT NULL DEFAULT 0,
  id          INTEGER  NOT NULL DEFAULT 0,
  type        TEXT     NOT NULL DEFAULT '',
  occurred_at DATETIME NOT NULL,
  data        TEXT     NOT NULL DEFAULT '{}',
  PRIMARY KEY (tenant_id, id)
);

CREATE INDEX IF NOT EXISTS idx_events_occurred ON events (occurred_at);

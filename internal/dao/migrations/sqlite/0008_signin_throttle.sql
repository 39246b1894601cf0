-- 0008_signin_throttle: sign-in attempts per account, app key and client
-- address in the current window (see the MySQL migration of the same number).

CREATE TABLE IF NOT EXISTS signin_throttle (
  bucket       TEXT     NOT NULL PRIMARY KEY,
  kind         TEXT     NOT NULL DEFAULT '',
  attempts     INTEGER  NOT NULL DEFAULT 0,
  window_start DATETIME NOT NULL,
  updated_at   DATETIME NOT NULL
);

CREATE INDEX IF NOT EXISTS idx_signin_throttle_window ON signin_throttle (window_start);

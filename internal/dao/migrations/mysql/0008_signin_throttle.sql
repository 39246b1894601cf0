-- 0008_signin_throttle: sign-in attempts per account, app key and client
-- address in the current window, shared by every instance so that the
-- sign-in budget holds across the fleet. Keys are stored as SHA-256 (bounded
-- in size, no account in clear); rows of past windows are trimmed.

CREATE TABLE signin_throttle (
  bucket       CHAR(64)     NOT NULL DEFAULT '' COMMENT 'SHA-256 (hex) of the kind and the key: an account, an app key or a client address',
  kind         VARCHAR(16)  NOT NULL DEFAULT '' COMMENT 'account, app or address',
  attempts     INT UNSIGNED NOT NULL DEFAULT 0 COMMENT 'sign-in attempts counted in the window; a success takes its own back',
  window_start DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT 'when the counting window began (UTC)',
  updated_at   DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT 'last attempt counted (UTC)',
  PRIMARY KEY (bucket),
  KEY idx_signin_throttle_window (window_start)
) ENGINE=InnoDB COMMENT='sign-in throttling: attempts per account, app key and client address in the current window; past windows are trimmed';

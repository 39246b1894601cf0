-- 0022_signin_throttle_kinds: the comment of signin_throttle.kind names
-- every kind the service stores. Besides an account's, an app key's and a
-- client address's budgets, a bucket counts an account's (or app key's)
-- budget from one client address (account@client, app@client) or marks a
-- client address that signed in to an account (known). Only the comment
-- changes: same type, same default, no rebuild (metadata-only DDL).

ALTER TABLE signin_throttle
  MODIFY COLUMN kind VARCHAR(16) NOT NULL DEFAULT '' COMMENT 'account, app or address (a budget per account, app key or client address), account@client or app@client (an account''s or app key''s budget from one client address), or known (a client address that signed in to the account)';

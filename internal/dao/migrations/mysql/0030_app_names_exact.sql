-- 0030_app_names_exact: a tenant's app names unique byte for byte.
-- The service trims an app's name and finds a tenant's app by it (an
-- admin's create or rename checks that no other app has it; the demo seed
-- gives the app of its name new scopes or a new secret). As VARCHAR under
-- the database's utf8mb4_unicode_ci, "crm" found the app "CRM" and "Cafe"
-- the app "Café", and the unique key took them for one name: MariaDB
-- refused the name as another app's, which no app had, while the embedded
-- SQLite (which compares bytes) created the app. As VARBINARY the lookup
-- and the key compare byte for byte, with no collation and no padding, as
-- on SQLite. The length holds every name the VARCHAR column could (255
-- characters of UTF-8). Existing rows keep their bytes; names unique under
-- the collation are unique as bytes. The type change is not in-place DDL:
-- the statement rebuilds the table.

ALTER TABLE apps
  MODIFY COLUMN name VARBINARY(1020) NOT NULL DEFAULT '' COMMENT 'display name (UTF-8, trimmed), unique in the tenant byte for byte';

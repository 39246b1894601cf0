-- 0021_speaker_keys_exact: speaker keys compared byte for byte.
-- A transcript's speaker keys are the partner's labels: "rep" and "REP",
-- "ä" and "a", "rep" and "rep " are different speakers. As VARCHAR under
-- the database's utf8mb4_unicode_ci they were one key to the participants'
-- unique key, so the service refused such a pair here while the embedded
-- SQLite (which compares bytes) kept both. As VARBINARY they compare byte
-- for byte, with no collation and no padding, as on SQLite, and order by
-- their bytes, as the service sorts them. The service stores them as UTF-8
-- of at most 64 characters: 256 bytes. Existing rows keep their bytes; keys
-- unique under the collation are unique as bytes. A tracker hit keeps the
-- key of its sentence's speaker, of the same type. Type changes are not
-- in-place DDL: each statement rebuilds its table.

ALTER TABLE participants
  MODIFY COLUMN speaker_key VARBINARY(256) NOT NULL DEFAULT '' COMMENT 'speaker label used by the transcript (UTF-8), compared byte for byte';

ALTER TABLE tracker_hits
  MODIFY COLUMN speaker_key VARBINARY(256) NOT NULL DEFAULT '' COMMENT 'speaker of the sentence (UTF-8), as in participants';

-- 0005_transcript_parts: a transcript is stored as a few JSON rows instead
-- of one row per sentence (see the MySQL migration of the same number).

CREATE TABLE IF NOT EXISTS transcript_parts (
  conversation_id INTEGER NOT NULL,
  part            INTEGER NOT NULL,
  tenant_id       INTEGER NOT NULL,
  sentences       TEXT    NOT NULL,
  PRIMARY KEY (conversation_id, part)
);

INSERT INTO transcript_parts (conversation_id, part, tenant_id, sentences)
SELECT conversation_id, n / 1000, MIN(tenant_id),
       json_group_array(json_object('seq', seq, 'speaker_key', speaker_key, 'start_ms', start_ms, 'end_ms', end_ms, 'text', text))
FROM (
  SELECT conversation_id, seq, tenant_id, speaker_key, start_ms, end_ms, text,
         ROW_NUMBER() OVER (PARTITION BY conversation_id ORDER BY seq) - 1 AS n
  FROM sentences
  ORDER BY conversation_id, seq
)
GROUP BY conversation_id, n / 1000;

DROP TABLE sentences;

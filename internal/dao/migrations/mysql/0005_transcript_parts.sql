-- 0005_transcript_parts: a transcript is stored as a few JSON rows instead
-- of one row per sentence. Transcripts are written and read whole (search
-- reads them from its own index), and a row per sentence cost ingest more
-- than everything else it writes together.

CREATE TABLE IF NOT EXISTS transcript_parts (
  conversation_id BIGINT   NOT NULL,
  part            INT      NOT NULL,
  tenant_id       BIGINT   NOT NULL,
  -- A JSON array of {"seq", "speaker_key", "start_ms", "end_ms", "text"}
  -- in seq order.
  sentences       LONGTEXT NOT NULL,
  PRIMARY KEY (conversation_id, part)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- MariaDB builds JSON_ARRAYAGG on GROUP_CONCAT and cuts it at
-- group_concat_max_len; a part of the existing sentences (1000 of at most
-- 4 KiB of text) must fit whole. MySQL ignores the setting here.
SET SESSION group_concat_max_len = 268435456;

-- Parts are runs of 1000 sentences in seq order. Within a part the order
-- is left to the server (MySQL 8 takes no ORDER BY in JSON_ARRAYAGG): the
-- readers sort a part that is not in seq order.

INSERT INTO transcript_parts (conversation_id, part, tenant_id, sentences)
SELECT conversation_id, FLOOR(n / 1000), MIN(tenant_id),
       JSON_ARRAYAGG(JSON_OBJECT('seq', seq, 'speaker_key', speaker_key, 'start_ms', start_ms, 'end_ms', end_ms, 'text', text))
FROM (
  SELECT conversation_id, seq, tenant_id, speaker_key, start_ms, end_ms, text,
         ROW_NUMBER() OVER (PARTITION BY conversation_id ORDER BY seq) - 1 AS n
  FROM sentences
) AS numbered
GROUP BY conversation_id, FLOOR(n / 1000);

DROP TABLE sentences;

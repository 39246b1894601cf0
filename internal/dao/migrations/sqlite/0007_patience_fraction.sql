-- 0007_patience_fraction: patience_ms is a mean with a fraction (see the
-- MySQL migration of the same number) and becomes REAL. SQLite cannot
-- change the type of a column, so the table is rebuilt; every row keeps
-- its value.

CREATE TABLE conversation_metrics_0007 (
  conversation_id           BIGINT      NOT NULL,
  tenant_id                 BIGINT      NOT NULL,
  algo_version              INT         NOT NULL,
  talk_ratio                REAL        NOT NULL,
  longest_monologue_ms      BIGINT      NOT NULL,
  longest_customer_story_ms BIGINT      NOT NULL,
  interactivity             REAL        NOT NULL,
  patience_ms               REAL        NOT NULL,
  question_count_internal   INT         NOT NULL,
  question_count_external   INT         NOT NULL,
  question_rate             REAL        NOT NULL,
  silence_ms                BIGINT      NOT NULL,
  computed_at               DATETIME    NOT NULL,
  PRIMARY KEY (conversation_id)
);

INSERT INTO conversation_metrics_0007
SELECT conversation_id, tenant_id, algo_version, talk_ratio, longest_monologue_ms, longest_customer_story_ms,
       interactivity, CAST(patience_ms AS REAL), question_count_internal, question_count_external, question_rate,
       silence_ms, computed_at
FROM conversation_metrics;

DROP TABLE conversation_metrics;

ALTER TABLE conversation_metrics_0007 RENAME TO conversation_metrics;

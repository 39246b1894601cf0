-- 0007_patience_fraction: patience_ms is a mean of gaps in whole
-- milliseconds (PRODUCT.md §4), so it has a fraction: gaps of 1 ms and 0 ms
-- give 0.5. It becomes DOUBLE, like the other fractional metrics of the
-- table, rather than DECIMAL: the service computes it as a float64 and
-- serves it as a proto double, and a DOUBLE stores that value bit for bit,
-- while a DECIMAL of fixed scale would round it again (a mean over 3 gaps
-- has no finite decimal form). Every BIGINT value already stored is below
-- 2^53 and converts exactly; rows keep their value and their algo_version
-- (1: computed when the mean was rounded to the millisecond).
--
-- The change of type rebuilds the table (ALGORITHM=COPY): one row per
-- conversation.

ALTER TABLE conversation_metrics
  MODIFY COLUMN patience_ms DOUBLE NOT NULL DEFAULT 0 COMMENT 'patience: mean gap from the end of a customer turn to the next rep turn, ms, with its fraction';

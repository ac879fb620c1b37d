-- How alerts and their envelopes are stored (tables of cases.sql).
--
-- Issue 14 (`rules replay`: PostgreSQL's CPU per replayed case, measured by inserting a
-- 20,000-case replay's 29,687 alerts and envelopes in 740-row statements, rolled back):
--
-- * alerts.payload is `json`, not `jsonb`: the text is checked to be JSON and stored as it
--   is, byte for byte the JSON the alert's envelope signs. Building the jsonb value cost
--   ~8 µs per case of the 33 its insert cost (41 when the text was cast to jsonb in SQL);
--   nothing queries inside a payload (every reader parses it whole, in Python), so the
--   binary form bought nothing. An existing table is rewritten once, by this file.
-- * alert_outbox.envelope is kept uncompressed (STORAGE EXTERNAL) and in the row
--   (toast_tuple_target = 8160, the largest): an envelope is ~1.9 KB on average, and every
--   one over the default 2 KB target was pglz-compressed, ~10 µs per case of ~33 (base64
--   and a signature compress poorly). Only rows written from then on are affected.
-- * alert_outbox has no foreign key to alerts any more: checking it (a look-up and a
--   key-share lock of the alert's row per envelope) cost ~7 µs per case of a replay. What
--   it guaranteed, that every envelope's alert exists (the publisher joins them), holds by
--   construction: the one writer of the outbox (PostgresCaseSession.record_alerts) queues
--   an envelope in the statement that writes its alert, for an alert that statement wrote,
--   and alerts are never deleted (the hub's role may not: cases.sql grants no DELETE).
DO $$
BEGIN
    IF (SELECT atttypid FROM pg_attribute
        WHERE attrelid = 'alerts'::regclass AND attname = 'payload') = 'jsonb'::regtype THEN
        ALTER TABLE alerts ALTER COLUMN payload TYPE json USING payload::json;
    END IF;
END $$;
ALTER TABLE alert_outbox ALTER COLUMN envelope SET STORAGE EXTERNAL;
ALTER TABLE alert_outbox SET (toast_tuple_target = 8160);
ALTER TABLE alert_outbox DROP CONSTRAINT IF EXISTS alert_outbox_alert_id_fkey;

-- Session 8 (issue 14): the JSON the rules write most, stored as the text written, unparsed.
-- Applied once to every database, new or old (hub/adapters/postgres.py MIGRATIONS); each
-- ALTER rewrites its table once.
--
-- * case_state_events.step is `text`, not `jsonb`: a step is the JSON case_store.py dumps
--   from a `streams.rules` model (json_text), and nothing in SQL looks inside one (the only
--   reader is linkage_case_state below, which passes it on to Python). Parsing it into jsonb
--   was ~18 % of PostgreSQL's work creating a replayed case, and is paid again by every live
--   save (one step per event).
-- * alerts.payload is `text`, not `json`: the JSON the alert's envelope signs, written by
--   PostgresCaseSession.record_alerts only (json_bytes of a `schemas.alert.Alert`); every
--   reader parses it whole, in Python (`Alert.model_validate_json`, which refuses what is not
--   an alert). Checking that it is JSON (the `json` type's input) was ~15 % of PostgreSQL's
--   work on the alerts + outbox statement. (alert_storage.sql made it json, from jsonb.)
-- * linkage_case_state returns the whole state's JSON as `text`, concatenated from the
--   bounded value's text and the steps' texts, instead of a jsonb value built from them:
--   every caller reads it as a string and parses it in Python (case_store.stored_state), so
--   building the binary form bought nothing, and a text step would have been parsed into it.
--   The keys it adds never clash with the bounded value's: the bounded value holds no
--   `event_ids` (the trigger of case_state_events.sql splits any state that has them) and
--   no list but `parties` (case_store._BOUNDED).
--
-- Measured (re-running the statements of a 20,000-case `rules replay`, captured with their
-- arguments, against a PostgreSQL 15 server run under callgrind: instructions per case, no
-- noise; 20 statements of 500 cases a connection, as the replay's pool runs them):
-- creating cases (PostgresCaseSession._create) 358 k -> 269 k (-25 %; steps as json instead
-- would have been 294 k), the alerts + outbox statement 287 k -> 242 k (-16 %).
-- bench/replay.py --cases 20000 --db --db-cases 20000 --jobs 1 --pg-statements, before/after
-- interleaved (a loaded machine): case creation 47.9, 49.4 -> 38.3, 34.7 µs/case (with the
-- packed ids of case_store._packed), alerts + outbox 46.6, 52.0 -> 46.6, 44.3, PostgreSQL
-- in all 125.6, 125.6 -> 108.1, 101.1.
--
-- The whole-state trigger (linkage_case_state_split) still extracts steps as jsonb from a
-- whole state and inserts them here: the assignment casts them to their text.
ALTER TABLE case_state_events ALTER COLUMN step TYPE text USING step::text;
ALTER TABLE alerts ALTER COLUMN payload TYPE text USING payload::text;

DROP FUNCTION IF EXISTS linkage_case_state(text, jsonb);
CREATE FUNCTION linkage_case_state(case_id text, bounded jsonb) RETURNS text
    LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN bounded = '{}'::jsonb THEN '{' ELSE left(bounded::text, -1) || ', ' END
        || '"event_ids": [' || coalesce(
            (SELECT string_agg(to_json(e.event_id)::text, ', ' ORDER BY e.event_id COLLATE "C")
             FROM case_state_events e WHERE e.case_id = $1), '') || ']'
        || coalesce(
            (SELECT string_agg(', ' || to_json(f.field)::text || ': [' || f.steps || ']', '')
             FROM (SELECT e.field, string_agg(e.step, ', ' ORDER BY e.event_id COLLATE "C")
                       AS steps
                   FROM case_state_events e WHERE e.case_id = $1 AND e.field IS NOT NULL
                   GROUP BY e.field) AS f), '')
        || '}'
$$;

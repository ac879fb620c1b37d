-- A case's growing parts as rows of their own (issue 14): the events folded into it and the
-- step each one left, one row per event, appended as events arrive.
--
--   case_state_events  (case, event id) -> the CaseState list the event's step is in
--                      (`field`: 'assessments', 'handovers', ...) and the step's JSON, or
--                      NULL twice for an event that left no step (its id only is kept)
--
-- cases.state keeps the bounded rest (case id, agency, offence, opened_at, parties,
-- figures): before, the rules rewrote the whole state (every step, every event id) into a
-- new JSONB value, its TOAST and its WAL on each event, so PostgreSQL's CPU per event grew
-- with the case (213 -> 512 µs from 1 to 50 prior events, docs/benchmarks.md). Now a save
-- inserts the new event's row and patches the small bounded value only.
--
-- The layout is kept here, not only by its writer (hub/adapters/case_store.py):
--
-- * A state written WITH `event_ids` is a whole state (streams.rules.CaseState's JSON, as
--   any writer of a whole state sends it: a whole save, a test data set, a bench script):
--   the trigger below replaces the case's rows with its events and steps and keeps the
--   bounded part in `state`. A state without `event_ids` is a bounded value only (the case
--   store's patches, a new empty case) and leaves the rows alone. Which keys are steps:
--   every array-valued key but `parties` and `event_ids` (case_store._ROW_FIELDS says the
--   same from the model; tests/integration/test_case_state_rows.py pins both).
-- * Every step belongs to one of the case's events and an event leaves at most one step
--   (what `streams.rules.apply` builds); a whole state that breaks this is refused.
-- * `linkage_case_state(case_id, state)` reassembles the whole state's JSON for readers
--   (the case store on a cache miss, statistics, the workbench). Its lists come in no
--   particular order: streams.rules sorts them by their own keys (case_store.stored_state).
--
-- Derived like the rest of cases: `rules replay` rebuilds it from the ledger. No foreign
-- key to cases (cases are never deleted; it would add a key-share lock per inserted row).

CREATE TABLE IF NOT EXISTS case_state_events (
    case_id   text NOT NULL,
    event_id  text NOT NULL,
    field     text,
    step      jsonb,  -- text since json_as_text.sql
    PRIMARY KEY (case_id, event_id),
    CHECK ((field IS NULL) = (step IS NULL))
);

CREATE OR REPLACE FUNCTION linkage_case_state_split() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    steps bigint;
    placed bigint;
BEGIN
    DELETE FROM case_state_events WHERE case_id = NEW.case_id;
    WITH s AS (
        SELECT f.key AS field, r.value AS step, r.value ->> 'event_id' AS event_id
        FROM jsonb_each(NEW.state) AS f, jsonb_array_elements(f.value) AS r
        WHERE jsonb_typeof(f.value) = 'array' AND f.key NOT IN ('parties', 'event_ids')),
    ins AS (
        INSERT INTO case_state_events (case_id, event_id, field, step)
        SELECT NEW.case_id, e.event_id, s.field, s.step
        FROM jsonb_array_elements_text(NEW.state -> 'event_ids') AS e(event_id)
        LEFT JOIN s USING (event_id)
        RETURNING field)
    SELECT (SELECT count(*) FROM s), (SELECT count(field) FROM ins) INTO steps, placed;
    IF steps <> placed THEN
        RAISE EXCEPTION 'case %: % of its % steps belong to none of its events',
            NEW.case_id, steps - placed, steps USING ERRCODE = 'check_violation';
    END IF;
    NEW.state := (SELECT jsonb_object_agg(key, value) FROM jsonb_each(NEW.state)
                  WHERE NOT (jsonb_typeof(value) = 'array' AND key <> 'parties'));
    RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS cases_state_split ON cases;
CREATE TRIGGER cases_state_split BEFORE INSERT OR UPDATE OF state ON cases
    FOR EACH ROW WHEN (NEW.state ? 'event_ids')
    EXECUTE FUNCTION linkage_case_state_split();

CREATE OR REPLACE FUNCTION linkage_case_state(case_id text, bounded jsonb) RETURNS jsonb
    LANGUAGE sql STABLE AS $$
    SELECT bounded
        || jsonb_build_object('event_ids', coalesce(
            (SELECT jsonb_agg(e.event_id ORDER BY e.event_id COLLATE "C")
             FROM case_state_events e WHERE e.case_id = $1), '[]'::jsonb))
        || coalesce(
            (SELECT jsonb_object_agg(f.field, f.steps) FROM (
                SELECT e.field, jsonb_agg(e.step ORDER BY e.event_id COLLATE "C") AS steps
                FROM case_state_events e WHERE e.case_id = $1 AND e.field IS NOT NULL
                GROUP BY e.field) AS f), '{}'::jsonb)
$$;

-- Existing cases move to the layout through the trigger (their states carry `event_ids`).
-- The statistics trigger stays off meanwhile: no case's content changes.
ALTER TABLE cases DISABLE TRIGGER cases_stats_dirty;
UPDATE cases SET state = state WHERE state ? 'event_ids';
ALTER TABLE cases ENABLE TRIGGER cases_stats_dirty;

GRANT SELECT, INSERT, DELETE ON case_state_events TO linkage_hub;

-- Session 7 (issue 14): what creating a case costs PostgreSQL, trimmed; applied once to every
-- database, new or old (hub/adapters/postgres.py MIGRATIONS). Nothing stored changes.
--
-- Measured by re-running the statements of a 20,000-case `rules replay` (captured with their
-- arguments) on fresh copies of the benchmark's ledger, alternating the variants, 4-5 rounds
-- each (PostgreSQL's CPU from /proc, min / median): the statement creating cases
-- (case_store.PostgresCaseSession._create) cost 48 / 52 µs per case; with both changes below
-- 39 / 41 (each alone ~44-45).
--
-- * case_parties has no foreign key to cases any more: checking it is a look-up and a
--   key-share lock of the case row per party row (~5 µs per case of a replay, and on every
--   live save that rewrites a party index). What it guaranteed, that every party row's case
--   exists, holds by construction: the one writer (case_store.py) inserts a case's party rows
--   in the statement that inserts the case and only for a case that statement inserted
--   (`_create`), or for cases it holds locked (`_replace_parties`); and cases are never
--   deleted (cases.sql grants the hub no DELETE). alert_outbox dropped its key for the same
--   reason (alert_storage.sql); case_state_events never had one.
ALTER TABLE case_parties DROP CONSTRAINT IF EXISTS case_parties_case_id_fkey;

-- * A new case is queued for the statistics (stats_dirty, statistics.sql) by one statement
--   per INSERT statement over its new rows (a transition table), not by a PL/pgSQL call and
--   a one-row INSERT per case (~5 µs per case of a replay, which creates 500 at a time). The
--   same rows are queued in the same transaction as before. Updates keep the row trigger:
--   it fires on UPDATE OF state, whether or not the value changed (a save that only adds
--   case_state_events rows leaves `state` in its SET list for it, case_store.save_cases),
--   which a statement trigger with a transition table cannot be limited to.
CREATE OR REPLACE FUNCTION linkage_stats_mark_dirty_inserted() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO stats_dirty (case_id) SELECT case_id FROM inserted ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS cases_stats_dirty ON cases;
CREATE TRIGGER cases_stats_dirty AFTER UPDATE OF state ON cases
    FOR EACH ROW EXECUTE FUNCTION linkage_stats_mark_dirty();
DROP TRIGGER IF EXISTS cases_stats_dirty_inserted ON cases;
CREATE TRIGGER cases_stats_dirty_inserted AFTER INSERT ON cases
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION linkage_stats_mark_dirty_inserted();

-- Session 8 (issue 14): a case save queues its case for the statistics itself; applied once
-- to every database, new or old (hub/adapters/postgres.py MIGRATIONS). Nothing stored changes.
--
-- Until now every UPDATE OF state on `cases` queued its case in stats_dirty (statistics.sql)
-- through a PL/pgSQL row trigger: one function call and one planned INSERT ... ON CONFLICT
-- per saved case, run as a deferred trigger event after the statement. The live rules save
-- about 0.8 cases per accepted event (bench/ingress.py), each in one statement
-- (case_store.PostgresCaseSession.save_cases). Measured by re-running that statement (400
-- cases of 1,000 a statement, the bench's shapes; PostgreSQL CPU from /proc, 15 alternating
-- rounds on a loaded machine, min / median µs per saved case): with the row trigger 28.6 /
-- 37.1, with the same rows queued by a CTE of the save statement and the trigger not firing
-- 25.3 / 28.3, with no queueing at all 23.0 / 27.6.
--
-- So the case store's save statements (the patch and the whole-state save) queue the cases
-- they updated in a CTE of their own (`INSERT INTO stats_dirty ... SELECT case_id FROM up`),
-- and the row trigger fires only for an UPDATE that does not move the row's `version`:
-- every save by the case store increments it (case_versions.sql), any other writer of
-- `state` (an operator's UPDATE, a migration, a test's data set) does not, and is queued by
-- the trigger as before. The rule, kept by tests/integration/test_case_state_rows.py: a
-- writer that increments `version` queues the case in the same statement.
DROP TRIGGER IF EXISTS cases_stats_dirty ON cases;
CREATE TRIGGER cases_stats_dirty AFTER UPDATE OF state ON cases
    FOR EACH ROW WHEN (NEW.version = OLD.version)
    EXECUTE FUNCTION linkage_stats_mark_dirty();

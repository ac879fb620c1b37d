-- Monthly roll-up of case_steps (issue 13: a year's statistics within 2 s at 1,000,000 cases).
--
--   case_step_months  (Asia/Shanghai month, agency, offence, step) -> how many rows of
--                     case_steps have that key. Kept by statement triggers on case_steps, in
--                     the transaction that writes the steps (PostgresStatistics.refresh), so
--                     it is never behind and never ahead of them.
--
-- A supervisor's counts of a period sum the whole months from here and scan case_steps only
-- for the partial months at its edges (hub/adapters/stats_store.py, counts). An officer's
-- counts stay on case_steps: they depend on case_scope, i.e. on the case, which a roll-up
-- keyed by month cannot tell. Percentiles stay on the raw rows too.
--
-- The roll-up is derived from case_steps only, so it is as rebuildable as they are:
-- re-deriving cases (INSERT INTO stats_dirty SELECT case_id FROM cases) moves it through the
-- triggers, and `SELECT linkage_stats_rebuild_months()` recomputes it from case_steps
-- (needed after loading case_steps with triggers off, as bench/stats_queries.py does).
--
-- Rows may reach n = 0 (a case re-derived into another month); readers keep only sums > 0.
-- offence may be NULL (case without an offence): NULLS NOT DISTINCT makes it one key.

CREATE TABLE IF NOT EXISTS case_step_months (
    month    date NOT NULL,  -- first day of the month, Asia/Shanghai
    agency   text NOT NULL,
    offence  text,
    step     text NOT NULL,
    n        bigint NOT NULL,
    CONSTRAINT case_step_months_key UNIQUE NULLS NOT DISTINCT (month, agency, offence, step)
);

-- One function for the four events. Concurrent refreshes serialise on a transaction-level
-- advisory lock from their first change of case_steps to their commit: each transaction
-- changes the roll-up in two statements (the DELETE, then the INSERT of the re-derived
-- steps), and two of them upserting overlapping keys in those two rounds could deadlock.
CREATE OR REPLACE FUNCTION linkage_stats_months_apply() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    -- a transition table exists only for the events that have one, hence dynamic SQL
    changes text := concat_ws(' UNION ALL ',
        CASE WHEN TG_OP IN ('DELETE', 'UPDATE') THEN
            'SELECT at, agency, offence, step, -1 AS d FROM old_rows' END,
        CASE WHEN TG_OP IN ('INSERT', 'UPDATE') THEN
            'SELECT at, agency, offence, step, 1 AS d FROM new_rows' END);
BEGIN
    PERFORM pg_advisory_xact_lock(7305163);
    IF TG_OP = 'TRUNCATE' THEN
        DELETE FROM case_step_months;
        RETURN NULL;
    END IF;
    EXECUTE 'INSERT INTO case_step_months AS m (month, agency, offence, step, n)'
        ' SELECT (date_trunc(''month'', at AT TIME ZONE ''Asia/Shanghai''))::date AS month,'
        ' agency, offence, step, sum(d) FROM (' || changes || ') x'
        ' GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4'
        ' ON CONFLICT ON CONSTRAINT case_step_months_key DO UPDATE SET n = m.n + excluded.n';
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS case_steps_months_insert ON case_steps;
CREATE TRIGGER case_steps_months_insert AFTER INSERT ON case_steps
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION linkage_stats_months_apply();
DROP TRIGGER IF EXISTS case_steps_months_delete ON case_steps;
CREATE TRIGGER case_steps_months_delete AFTER DELETE ON case_steps
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
    EXECUTE FUNCTION linkage_stats_months_apply();
DROP TRIGGER IF EXISTS case_steps_months_update ON case_steps;
CREATE TRIGGER case_steps_months_update AFTER UPDATE ON case_steps
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION linkage_stats_months_apply();
DROP TRIGGER IF EXISTS case_steps_months_truncate ON case_steps;
CREATE TRIGGER case_steps_months_truncate AFTER TRUNCATE ON case_steps
    FOR EACH STATEMENT EXECUTE FUNCTION linkage_stats_months_apply();

-- Recompute the roll-up from case_steps (case_steps locked against writers meanwhile).
CREATE OR REPLACE FUNCTION linkage_stats_rebuild_months() RETURNS void
    LANGUAGE plpgsql AS $$
BEGIN
    LOCK TABLE case_steps IN SHARE MODE;
    DELETE FROM case_step_months;
    INSERT INTO case_step_months (month, agency, offence, step, n)
    SELECT (date_trunc('month', at AT TIME ZONE 'Asia/Shanghai'))::date, agency, offence, step,
           count(*)
    FROM case_steps GROUP BY 1, 2, 3, 4;
END $$;

-- Steps that existed before this migration.
SELECT linkage_stats_rebuild_months();

GRANT SELECT, INSERT, UPDATE, DELETE ON case_step_months TO linkage_hub;

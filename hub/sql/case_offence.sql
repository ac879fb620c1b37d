-- Session 8 (issue 14): a case's offence as a stored generated column, indexed in place of the
-- expression index on `state ->> 'offence'` (accounts.sql); applied once to every database,
-- new or old (hub/adapters/postgres.py MIGRATIONS). What the column holds is derived from
-- `state`, nothing stored changes meaning.
--
-- Why: an UPDATE can be a HOT update (no new entry in any index of the table, the new row
-- version on the old one's page) only when no indexed value changes. An expression index
-- counts every column it reads as indexed, so with it each save of a case (which rewrites
-- `state`: the figures, or the same value to queue the statistics before case_saves.sql)
-- inserted an entry into all three indexes of `cases`, though the offence never changed. An
-- index on a generated column compares the computed value: the offence stays, the update
-- stays HOT. Measured by re-running the rules' save statement (400 cases of 1,000 a
-- statement, the bench's shapes; PostgreSQL CPU from /proc, 15 alternating rounds on a
-- loaded machine, min / median µs per saved case): 24.9 / 32.7 with the expression index,
-- 21.0 / 26.2 without it (82 % of the updates HOT).
--
-- The readers that filter by offence (hub/adapters/workbench_store.py, stats_store.py) use
-- `c.offence`, so the index still serves them.
ALTER TABLE cases ADD COLUMN IF NOT EXISTS offence text
    GENERATED ALWAYS AS (state ->> 'offence') STORED;
CREATE INDEX IF NOT EXISTS cases_offence_col_idx ON cases (offence);
DROP INDEX IF EXISTS cases_offence_idx;

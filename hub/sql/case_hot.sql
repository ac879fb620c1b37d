-- Session 9 (issue 14): a case save is a HOT update; applied once to every database, new or
-- old (hub/adapters/postgres.py MIGRATIONS). Every row is kept; the table is rewritten once.
--
-- PostgreSQL updates a row in place on its page (a heap-only tuple: no new entry in any of
-- the table's indexes) only when no indexed column changed and the page has room. Every
-- save of a case rewrites `state`, and `cases_offence_idx` (accounts.sql) indexed the
-- expression `state ->> 'offence'`: an expression index counts as indexing the whole column,
-- so each save inserted new entries into all three indexes of `cases` (the primary key, the
-- offence, the deadline when set) and put the new row version on another page. In the
-- benchmark only 5,730 of 25,665 updates were HOT (those whose state did not change).
--
-- * The offence is a stored generated column, indexed instead: a save that leaves the
--   offence alone (nearly all) changes no indexed column. The readers that filter or show
--   the offence (workbench_store.py's board and deadlines, stats_store.py) read `offence`.
--   Written by PostgreSQL from `state` after the BEFORE trigger of case_state_events.sql,
--   so it is the offence of the bounded value stored, as the expression was.
-- * fillfactor 70: a page keeps 30 % free for the new versions of its cases (rows of the
--   benchmark ~350 bytes, ~16 a page: enough for one save of each between two prunings),
--   and a page with less free room is pruned of dead versions when it is next read. At
--   fillfactor 100 a freshly inserted page has no room, and the first save of each of its
--   cases leaves it.
--
-- Measured (the rules' lock + save + mark statements of bench/ingress.py's shapes, 400 cases
-- a statement, re-run on a copy of the benchmark's database against a PostgreSQL 15 run
-- under callgrind; instructions per saved case in the steady state, generic plans): 182.6 k
-- -> 170.7 k with the generated column alone, 168.9 k with fillfactor 70 too; HOT updates
-- 6,128 -> 18,053 of 20,400 on the same statements run natively.
-- bench/ingress.py --engines tansu --workers 1 -n 20000 --paced 6000 --rate 300
-- --pg-statements, six runs each side interleaved with main at 44f38dc (load 2.5-9): the
-- save statement 18.4-21.9 (median 20.4) -> 16.7-19.5 (median 17.7) µs/event; HOT updates
-- 3,934-5,399 -> 22,133-22,829 of ~25,700; the table (dead versions included) 7.4-8.0 MB
-- -> 1.8-2.2 MB at the end. PostgreSQL in all moved less than the machine's load did
-- (53-67 -> 52-68 µs/event).
--
-- The cost: a table of live rows only takes ~1/0.7 the pages, and on an existing database
-- the ADD COLUMN rewrites `cases` under an exclusive lock once (as json_as_text.sql did).
ALTER TABLE cases SET (fillfactor = 70);
ALTER TABLE cases ADD COLUMN IF NOT EXISTS offence text
    GENERATED ALWAYS AS (state ->> 'offence') STORED;  -- the rewrite packs rows at 70 %
CREATE INDEX IF NOT EXISTS cases_offence_col_idx ON cases (offence);
DROP INDEX IF EXISTS cases_offence_idx;

-- Session 10 (issue 14): the receipts' look-up by event id is a hash index; applied once to
-- every database, new or old (hub/adapters/postgres.py MIGRATIONS). Nothing stored changes.
--
-- ingress_outcomes_event_idx (casework.sql) has one reader: http_ingress.for_event,
-- `WHERE event_id = $1` (GET /api/v1/receipts/{event_id}), an equality, which a hash index
-- serves as the b-tree did (it then sorts that id's few outcomes). Every stored outcome
-- inserts an entry: into a b-tree, a descent to a random leaf (event ids are random UUIDs)
-- and a page split now and then; into a hash index, one bucket page found by arithmetic.
-- Hash indexes are WAL-logged and crash-safe since PostgreSQL 10 (Debian's 15 and the
-- pgserver wheel's 16 alike, no build option involved).
--
-- Measured: the ingress unit's statements (lock head, COPY ledger, COPY ingress_outcomes,
-- INSERT ledger_nodes, UPDATE head; 500-entry batches, 10 after 10 of warm-up) against a
-- PostgreSQL 15 server run under callgrind, one backend's instructions per event: 156.3 k /
-- 156.7 k with the b-tree, 153.8 k with the hash index (and 147.7 k with no index at all);
-- by bench/pg_callgrind.py ingress (generic plans, start-up subtracted), twice each side:
-- 142.1 k / 142.3 k -> 138.1 k / 138.1 k (-2.9 %).
-- The index is built anew once (CREATE INDEX reads the table once, under a SHARE lock).
DROP INDEX IF EXISTS ingress_outcomes_event_idx;
CREATE INDEX ingress_outcomes_event_idx ON ingress_outcomes USING hash (event_id);

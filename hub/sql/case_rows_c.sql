-- Session 10 (issue 14): case_state_events' keys compare as bytes (COLLATE "C"); applied once
-- to every database, new or old (hub/adapters/postgres.py MIGRATIONS). No row changes.
--
-- Its primary key (case_id, event_id) is two text columns of the database's collation. Under
-- any collation but "C"/"POSIX" (C.UTF-8 included: Debian's default, and the benchmark's),
-- PostgreSQL compares two texts by copying both into NUL-terminated buffers and calling
-- strcoll, and every row a save or a replay inserts makes ~20 such comparisons descending
-- the key (the case id first, equal for a case's own rows, then the event id). Under "C" it
-- is one memcmp. Nothing reads an order of these columns but linkage_case_state
-- (json_as_text.sql), which already orders by `event_id COLLATE "C"`; every other use is an
-- equality (the same answer under any deterministic collation), and a comparison with a
-- column or value of the default collation takes this column's "C" without a conflict.
--
-- Measured: 500-row INSERT ... SELECT statements into case_state_events (the save's shape:
-- 2,000 case ids 'C-<n>', event ids of random UUIDs as text, ~250-byte steps; 20 after 20 of
-- warm-up) against a PostgreSQL 15 server run under callgrind, one backend's instructions
-- per inserted row: 32.7 k -> 30.4 k (-7 %). The rules' whole lock + save + mark, by
-- bench/pg_callgrind.py save, twice each side: 189.7 k -> 187.4 k per saved case (-1.2 %).
-- Changing only the collation keeps the table's storage; the primary key is rebuilt once.
ALTER TABLE case_state_events
    ALTER COLUMN case_id TYPE text COLLATE "C",
    ALTER COLUMN event_id TYPE text COLLATE "C";

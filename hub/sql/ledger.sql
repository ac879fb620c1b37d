-- The handover ledger: append-only at the database level (contract section 5).
--
-- Sequencing argument (why ledger indexes are gap-free under concurrent writers):
-- every append first takes the row lock on the single ledger_head row
-- (SELECT ... FOR UPDATE), reads the next index from it, inserts the entries and
-- advances the head in the same transaction. Appenders are thus serialised; a
-- transaction that aborts rolls its head update back with its rows, so the next
-- appender reuses exactly the indexes it gave up. Readers only ever see committed
-- prefixes [0, size): the head and the rows become visible in the same commit.

CREATE TABLE IF NOT EXISTS ledger (
    ledger_index     bigint PRIMARY KEY CHECK (ledger_index >= 0),
    event_id         uuid NOT NULL UNIQUE,
    agency_id        text NOT NULL,
    case_id          text NOT NULL,
    event_type       text NOT NULL,
    event_time       timestamptz NOT NULL,
    received_at      timestamptz NOT NULL,
    keyid            text NOT NULL,
    record           bytea NOT NULL,
    leaf_hash        bytea NOT NULL CHECK (length(leaf_hash) = 32)
);
CREATE INDEX IF NOT EXISTS ledger_case_idx ON ledger (case_id, ledger_index);
CREATE INDEX IF NOT EXISTS ledger_agency_idx ON ledger (agency_id, ledger_index);

-- Perfect-subtree node hashes: node (level, idx) covers leaves [idx*2^level, (idx+1)*2^level).
CREATE TABLE IF NOT EXISTS ledger_nodes (
    level   smallint NOT NULL CHECK (level >= 0 AND level < 64),
    idx     bigint NOT NULL CHECK (idx >= 0),
    hash    bytea NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (level, idx)
);

-- The append frontier: tree size and the right-edge perfect-subtree hashes.
CREATE TABLE IF NOT EXISTS ledger_head (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    size       bigint NOT NULL CHECK (size >= 0),
    frontier   bytea[] NOT NULL,
    root_hash  bytea NOT NULL
);
INSERT INTO ledger_head (singleton, size, frontier, root_hash)
VALUES (true, 0, '{}', sha256(''::bytea))
ON CONFLICT DO NOTHING;

CREATE OR REPLACE FUNCTION linkage_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% 只能追加,拒绝 % / % is append-only: % refused',
        TG_TABLE_NAME, TG_OP, TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

-- Makes a table append-only: a row trigger refuses UPDATE and DELETE, a statement trigger
-- refuses TRUNCATE (each raising insufficient_privilege with a bilingual message).
CREATE OR REPLACE FUNCTION linkage_make_append_only(tbl regclass) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    name text := (SELECT relname FROM pg_class WHERE oid = tbl);
BEGIN
    EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s', name || '_append_only', tbl);
    EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE OR DELETE ON %s FOR EACH ROW '
                   'EXECUTE FUNCTION linkage_refuse_change()', name || '_append_only', tbl);
    EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s', name || '_no_truncate', tbl);
    EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON %s FOR EACH STATEMENT '
                   'EXECUTE FUNCTION linkage_refuse_change()', name || '_no_truncate', tbl);
END
$$;

SELECT linkage_make_append_only('ledger');
SELECT linkage_make_append_only('ledger_nodes');

GRANT SELECT, INSERT ON ledger, ledger_nodes TO linkage_hub;
GRANT SELECT, UPDATE ON ledger_head TO linkage_hub;
REVOKE UPDATE, DELETE, TRUNCATE ON ledger, ledger_nodes FROM linkage_hub;

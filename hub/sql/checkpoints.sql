-- Signed checkpoints of the ledger and witnesses' cosignatures (contract section 5).
--
-- One checkpoint per tree size, ever: tree_size is the primary key, so two issuers racing
-- for the same size (the worker's checkpointer and an on-demand CLI call) end with one row;
-- the loser reads the winner's note back (INSERT ... ON CONFLICT DO NOTHING). Both tables
-- are append-only like the ledger: linkage_refuse_change() comes from audit/schema.sql,
-- which is migrated before this file.

CREATE TABLE IF NOT EXISTS checkpoints (
    tree_size   bigint PRIMARY KEY CHECK (tree_size >= 0),
    root_hash   bytea NOT NULL CHECK (length(root_hash) = 32),
    note        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- One cosignature per checkpoint and witness; `line` is the note signature line
-- ("— <witness> base64(keyid || timestamp || signature)\n", c2sp.org/tlog-cosignature).
CREATE TABLE IF NOT EXISTS cosignatures (
    tree_size   bigint NOT NULL REFERENCES checkpoints (tree_size),
    witness     text NOT NULL,
    key_id      text NOT NULL CHECK (key_id ~ '^[0-9a-f]{8}$'),
    line        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tree_size, witness)
);

SELECT linkage_make_append_only('checkpoints');
SELECT linkage_make_append_only('cosignatures');

GRANT SELECT, INSERT ON checkpoints, cosignatures TO linkage_hub;
REVOKE UPDATE, DELETE, TRUNCATE ON checkpoints, cosignatures FROM linkage_hub;

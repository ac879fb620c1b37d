-- The rules runner's ledger cursor (issue 10 item 5): the ledger index up to which every
-- accepted record is known to be folded into its case. The worker's timer reads the ledger
-- from here, folds what `processed_events` lacks and moves the cursor, so events accepted but
-- never delivered on linkage.events (a broker that lost its data) are applied all the same.
-- One row; a worker holds it FOR UPDATE while it catches up, the others skip that round.

CREATE TABLE IF NOT EXISTS rules_cursor (
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    next_index  bigint NOT NULL CHECK (next_index >= 0)
);
INSERT INTO rules_cursor (singleton, next_index) VALUES (true, 0) ON CONFLICT DO NOTHING;

GRANT SELECT, UPDATE ON rules_cursor TO linkage_hub;

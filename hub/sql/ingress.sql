-- One row per ingress record: its single outcome, so a redelivered record gets the same
-- receipt again and every record's fate is on file. Rejected records keep their bytes
-- here (the quarantine) besides the linkage.quarantine topic.
CREATE TABLE IF NOT EXISTS ingress_outcomes (
    topic         text NOT NULL,
    kpartition    integer NOT NULL,
    koffset       bigint NOT NULL,
    record_hash   bytea NOT NULL,
    event_id      uuid,
    status        text NOT NULL CHECK (status IN ('accepted', 'duplicate', 'rejected')),
    reason        text,
    detail        text,
    ledger_index  bigint,
    leaf_hash     bytea,
    received_at   timestamptz NOT NULL,
    record        bytea,
    PRIMARY KEY (topic, kpartition, koffset, record_hash)
);
CREATE INDEX IF NOT EXISTS ingress_outcomes_status_idx ON ingress_outcomes (status, received_at);
-- (dropped again by ingress_v2.sql: nothing reads it)

GRANT SELECT, INSERT ON ingress_outcomes TO linkage_hub;

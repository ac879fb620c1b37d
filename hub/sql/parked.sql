-- Records the hub could not settle: the database refused their batch and bisection pinned
-- it on them (store_refused), or the hub's own code failed on them (hub_bug). Neither is
-- the sending agency's fault, so such a record gets no receipt and no quarantine yet: it is
-- kept here with the evidence, its partition moves on, and `linkage-hub parked retry`
-- re-runs it through the ingress processor once the cause is fixed; it then gets its true
-- outcome (in ingress_outcomes) and `resolved_at` / `outcome` are set here.
-- One row per record (topic, partition, offset, bytes): parking it again counts an attempt.
CREATE TABLE IF NOT EXISTS parked_records (
    parked_id     bigserial PRIMARY KEY,
    topic         text NOT NULL,
    kpartition    integer NOT NULL,
    koffset       bigint NOT NULL,
    record_hash   bytea NOT NULL,
    record_key    bytea,
    record        bytea,
    timestamp_ms  bigint,
    reason        text NOT NULL CHECK (reason IN ('store_refused', 'hub_bug')),
    evidence      text NOT NULL,
    parked_at     timestamptz NOT NULL,
    attempts      integer NOT NULL DEFAULT 1,
    resolved_at   timestamptz,
    outcome       text,
    UNIQUE (topic, kpartition, koffset, record_hash)
);
CREATE INDEX IF NOT EXISTS parked_records_open_idx ON parked_records (parked_id)
    WHERE resolved_at IS NULL;

GRANT SELECT, INSERT, UPDATE ON parked_records TO linkage_hub;
GRANT USAGE ON SEQUENCE parked_records_parked_id_seq TO linkage_hub;

-- Case state and alerts of the rules layer (issue 3; contract section 4).
--
-- Written by hub/adapters/case_store.py only. Every change happens in one transaction that first
-- takes the row lock of each case it re-evaluates (SELECT ... FOR UPDATE on `cases`), so two
-- writers never diff the same case's alerts at once. The deadline sweep skips locked rows.
--
--   cases            one row per case: the folded streams.CaseState (JSON) and the next
--                    instant at which its alerts may change without a new event
--   case_parties     (id_type, id_number) -> case, to find cases sharing a party (SPLIT_CASES)
--   processed_events event ids already folded (redelivery of linkage.events is a no-op)
--   alerts           the current status of every alert ever raised (one row per alert_id)
--   alert_outbox     every signed alert envelope to publish on linkage.alerts, in order;
--                    published_at is set once the broker acknowledged it

CREATE TABLE IF NOT EXISTS cases (
    case_id      text PRIMARY KEY,
    agency       text,
    state        jsonb NOT NULL,
    next_due_at  timestamptz,
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS cases_next_due_idx ON cases (next_due_at)
    WHERE next_due_at IS NOT NULL;

CREATE TABLE IF NOT EXISTS case_parties (
    id_type    text NOT NULL,
    id_number  text NOT NULL,
    case_id    text NOT NULL REFERENCES cases (case_id),
    PRIMARY KEY (id_type, id_number, case_id)
);
CREATE INDEX IF NOT EXISTS case_parties_case_idx ON case_parties (case_id);

CREATE TABLE IF NOT EXISTS processed_events (
    event_id      uuid PRIMARY KEY,
    processed_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS alerts (
    alert_id         uuid PRIMARY KEY,
    rule_id          text NOT NULL,
    case_id          text NOT NULL,
    agency           text NOT NULL,
    status           text NOT NULL CHECK (status IN ('open', 'resolved')),
    payload          jsonb NOT NULL,  -- json since alert_storage.sql, text since json_as_text.sql
    first_raised_at  timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS alerts_case_idx ON alerts (case_id);
CREATE INDEX IF NOT EXISTS alerts_open_idx ON alerts (updated_at) WHERE status = 'open';
-- Kept, with the other five secondary indexes of alerts (accounts.sql, statistics.sql), after
-- measuring (issue 14): all six cost ~8 µs per case of a 20,000-case replay (~1.4 each, of
-- ~25 for the insert), and EXPLAIN of every query reading alerts on a replayed database
-- (30,000 alerts) showed each in use or standing in where its data grows skewed: this one
-- is open_count's index-only scan (every worker tick; 3 ms, 9 ms through
-- alerts_status_raised_idx instead), status_raised serves the board's status filter once
-- open alerts are a small part of many, status_rule the counts per rule (index-only),
-- raised the period filters, resolved the statistics' resolutions, case every case read.

CREATE TABLE IF NOT EXISTS alert_outbox (
    seq           bigserial PRIMARY KEY,
    alert_id      uuid NOT NULL REFERENCES alerts (alert_id),  -- dropped: alert_storage.sql
    status        text NOT NULL CHECK (status IN ('open', 'resolved')),
    case_id       text NOT NULL,
    envelope      bytea NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    published_at  timestamptz
);
CREATE INDEX IF NOT EXISTS alert_outbox_unpublished_idx ON alert_outbox (seq)
    WHERE published_at IS NULL;  -- envelope stored uncompressed since alert_storage.sql

GRANT SELECT, INSERT, UPDATE ON cases, alerts, alert_outbox TO linkage_hub;
GRANT SELECT, INSERT, DELETE ON case_parties TO linkage_hub;
GRANT SELECT, INSERT ON processed_events TO linkage_hub;
GRANT USAGE, SELECT ON SEQUENCE alert_outbox_seq_seq TO linkage_hub;

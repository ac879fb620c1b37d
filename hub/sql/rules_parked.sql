-- Events the rules layer could not apply (issue 8 section 2): parked, not marked processed.
--
-- Written by hub/adapters/case_store.py only, in the same transaction as the batch that
-- failed to apply them (so a crash leaves either the event processed or parked, never lost).
-- The deadline sweep tries each one again from retry_at on (streams/rules_runner.py,
-- RETRY_FAILED_APPLY, the same delay as a failed evaluation); once it applies, the row is
-- deleted and the event is marked processed. `attempts` counts the failed tries.

CREATE TABLE IF NOT EXISTS rules_parked_events (
    event_id   uuid PRIMARY KEY,
    case_id    text NOT NULL,
    record     bytea NOT NULL,
    error      text NOT NULL,
    attempts   integer NOT NULL DEFAULT 1 CHECK (attempts >= 1),
    parked_at  timestamptz NOT NULL DEFAULT now(),
    retry_at   timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS rules_parked_events_retry_idx ON rules_parked_events (retry_at);

GRANT SELECT, INSERT, UPDATE, DELETE ON rules_parked_events TO linkage_hub;

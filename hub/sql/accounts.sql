-- The workbench's people and what they did (contract section 7; docs/workbench.md).
--
--   users        one row per person: agency, role (officer / supervisor / auditor / admin),
--                Argon2id hash, disabled flag, the failed-login counter and lock-out time.
--                The counter is changed with one UPDATE ... RETURNING per attempt, so two
--                concurrent wrong passwords both count.
--   auth_tokens  API bearer tokens and browser sessions: only the SHA-256 of the random
--                token is stored; each expires and can be revoked (logout revokes).
--   case_scope   (case, agency) pairs an officer's scope is built from: the agency that
--                opened the case and the agencies it was transferred, forwarded, notified or
--                sent for investigation to (case_scope_grants: counted once the sender is in
--                the scope itself). Derived from the ledger by the web service
--                (hub/adapters/workbench_store.py); scope_watermark is the next ledger index
--                to read. Re-derivable at any time from the ledger.
--   access_log   who (user, role, agency) did what (login, case read, export, user and
--                agency changes, supervision issued) to what, when and from where.
--                Append-only at the database level, like the ledger.

CREATE TABLE IF NOT EXISTS users (
    username       text PRIMARY KEY CHECK (username ~ '^[a-z][a-z0-9._-]{1,31}$'),
    agency_id      text NOT NULL REFERENCES agencies (agency_id),
    role           text NOT NULL CHECK (role IN ('officer', 'supervisor', 'auditor', 'admin')),
    display_name   text NOT NULL DEFAULT '',
    password_hash  text NOT NULL,
    failed_logins  integer NOT NULL DEFAULT 0,
    locked_until   timestamptz,
    disabled_at    timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS auth_tokens (
    token_sha256  bytea PRIMARY KEY CHECK (length(token_sha256) = 32),
    username      text NOT NULL REFERENCES users (username),
    kind          text NOT NULL CHECK (kind IN ('api', 'session')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    revoked_at    timestamptz
);
CREATE INDEX IF NOT EXISTS auth_tokens_user_idx ON auth_tokens (username);

CREATE TABLE IF NOT EXISTS case_scope (
    case_id    text NOT NULL,
    agency_id  text NOT NULL,
    PRIMARY KEY (agency_id, case_id)
);
CREATE INDEX IF NOT EXISTS case_scope_case_idx ON case_scope (case_id);

-- Every "sent to" event (sender -> to_agency) of a case, kept so that a recipient enters the
-- scope once its sender is in it, whatever order the events were ledgered in.
CREATE TABLE IF NOT EXISTS case_scope_grants (
    case_id    text NOT NULL,
    sender     text NOT NULL,
    recipient  text NOT NULL,
    PRIMARY KEY (case_id, sender, recipient)
);

CREATE TABLE IF NOT EXISTS scope_watermark (
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    next_index  bigint NOT NULL
);
INSERT INTO scope_watermark (singleton, next_index) VALUES (true, 0) ON CONFLICT DO NOTHING;

CREATE TABLE IF NOT EXISTS access_log (
    seq        bigserial PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT now(),
    username   text,
    role       text,
    agency_id  text,
    action     text NOT NULL,
    target     text,
    client     text,
    outcome    text NOT NULL DEFAULT 'ok',
    detail     jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX IF NOT EXISTS access_log_user_idx ON access_log (username, seq);
SELECT linkage_make_append_only('access_log');

-- Board queries (alerts filtered by status, rule, agency, period; offence through cases).
CREATE INDEX IF NOT EXISTS alerts_status_raised_idx ON alerts (status, first_raised_at DESC);
-- Counts per rule are index-only scans of this one (bench/workbench.py, docs/workbench.md).
CREATE INDEX IF NOT EXISTS alerts_status_rule_idx ON alerts (status, rule_id, agency, case_id);
CREATE INDEX IF NOT EXISTS cases_offence_idx ON cases ((state ->> 'offence'));  -- case_hot.sql: a column

GRANT SELECT, INSERT, UPDATE ON users, auth_tokens TO linkage_hub;
GRANT SELECT, INSERT ON case_scope, case_scope_grants TO linkage_hub;
GRANT SELECT, UPDATE ON scope_watermark TO linkage_hub;
GRANT SELECT, INSERT ON access_log TO linkage_hub;
REVOKE UPDATE, DELETE, TRUNCATE ON access_log FROM linkage_hub;
GRANT USAGE, SELECT ON SEQUENCE access_log_seq_seq TO linkage_hub;

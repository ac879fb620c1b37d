-- Agency registry: agencies, roles and their Ed25519 keys (contract section 1).
CREATE TABLE IF NOT EXISTS agencies (
    agency_id   text PRIMARY KEY CHECK (agency_id ~ '^[a-z][a-z0-9-]{1,31}$'),
    role        text NOT NULL CHECK (role IN ('administrative', 'police', 'procuratorate')),
    name        text NOT NULL,
    name_en     text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS agency_keys (
    keyid       text PRIMARY KEY CHECK (keyid ~ '^[0-9a-f]{64}$'),
    agency_id   text NOT NULL REFERENCES agencies (agency_id),
    public_pem  text NOT NULL,
    added_at    timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
CREATE INDEX IF NOT EXISTS agency_keys_agency_idx ON agency_keys (agency_id);

-- Permissions by role: which event types a role may send (contract section 2 table).
CREATE TABLE IF NOT EXISTS role_permissions (
    role        text NOT NULL,
    event_type  text NOT NULL,
    PRIMARY KEY (role, event_type)
);

GRANT SELECT ON agencies, agency_keys, role_permissions TO linkage_hub;

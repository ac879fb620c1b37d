-- The workbench's case work (issue 11): HTTP ingress's receipt look-up and the inbox's marks.

-- GET /api/v1/receipts/{event_id} (HTTP ingress, contract section 8) finds outcomes by id.
CREATE INDEX IF NOT EXISTS ingress_outcomes_event_idx ON ingress_outcomes (event_id);

-- An agency's inbox item (an event addressed to it) once someone of the agency opened it.
CREATE TABLE IF NOT EXISTS inbox_reads (
    agency_id   text NOT NULL,
    event_id    uuid NOT NULL,
    read_by     text NOT NULL,
    read_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (agency_id, event_id)
);
GRANT SELECT, INSERT ON inbox_reads TO linkage_hub;

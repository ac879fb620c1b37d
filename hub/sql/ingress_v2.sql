-- Session 6 (issue 14): the ingress hot path's schema, trimmed; applied once to every
-- database, new or old (hub/adapters/postgres.py MIGRATIONS).
--
-- ingress_outcomes_status_idx (status, received_at), created by ingress.sql, had no reader:
-- the outcomes are read by their key (the primary key: the ingress processor and HTTP
-- ingress) and by event id (ingress_outcomes_event_idx: GET /api/v1/receipts/{event_id}).
-- Maintaining it cost PostgreSQL CPU on every stored outcome.
DROP INDEX IF EXISTS ingress_outcomes_status_idx;

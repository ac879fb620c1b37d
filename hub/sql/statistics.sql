-- Statistics (issue 13): one row per step a case reached, written as events arrive.
--
--   stats_dirty  case ids whose folded state changed since the statistics last looked; filled
--                by a trigger on `cases`, drained by hub/adapters/stats_store.py (refresh)
--   case_steps   (case, step): when the step happened, which agency took it, the case's
--                offence, and the days since the step it follows (NULL for the first step).
--                Every figure of the statistics page is a GROUP BY over a range of `at`.
--   penalty_decisions  one row per 行政处罚决定 (decision number unique per agency), for
--                the 双公示 export and the credit-list feed.
--
-- Why a table kept by the application and not a materialized view over cases.state: whether
-- a case is over a threshold is decided by the rule engine (streams.rules, the law in force
-- on the act's day and 从旧兼从轻), which is Python; a view could only duplicate it in SQL.
-- The trigger makes the hand-off exact: a state written is a case id queued in the same
-- transaction, so no change is missed however concurrent the writers.

CREATE TABLE IF NOT EXISTS stats_dirty (
    case_id  text PRIMARY KEY
);

CREATE OR REPLACE FUNCTION linkage_stats_mark_dirty() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO stats_dirty (case_id) VALUES (NEW.case_id) ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS cases_stats_dirty ON cases;
CREATE TRIGGER cases_stats_dirty AFTER INSERT OR UPDATE OF state ON cases
    FOR EACH ROW EXECUTE FUNCTION linkage_stats_mark_dirty();

-- Cases that existed before this migration are queued once.
INSERT INTO stats_dirty (case_id) SELECT case_id FROM cases ON CONFLICT DO NOTHING;

CREATE TABLE IF NOT EXISTS case_steps (
    case_id       text NOT NULL,
    step          text NOT NULL,
    at            timestamptz NOT NULL,
    agency        text NOT NULL,
    offence       text,
    elapsed_days  numeric,
    PRIMARY KEY (case_id, step)
);
CREATE INDEX IF NOT EXISTS case_steps_at_idx ON case_steps (at, step)
    INCLUDE (agency, offence, elapsed_days);
CREATE INDEX IF NOT EXISTS case_steps_agency_at_idx ON case_steps (agency, at);

CREATE TABLE IF NOT EXISTS penalty_decisions (
    agency       text NOT NULL,
    decision_no  text NOT NULL,
    case_id      text NOT NULL,
    offence      text,
    decided_at   timestamptz NOT NULL,
    fine         numeric(14, 2) NOT NULL,
    confiscated  numeric(14, 2) NOT NULL,
    PRIMARY KEY (agency, decision_no)
);
CREATE INDEX IF NOT EXISTS penalty_decisions_at_idx ON penalty_decisions (decided_at);
CREATE INDEX IF NOT EXISTS penalty_decisions_case_idx ON penalty_decisions (case_id);

CREATE INDEX IF NOT EXISTS alerts_raised_idx ON alerts (first_raised_at);
CREATE INDEX IF NOT EXISTS alerts_resolved_idx ON alerts (updated_at) WHERE status = 'resolved';

GRANT SELECT, INSERT, DELETE ON case_steps, penalty_decisions TO linkage_hub;
GRANT SELECT, INSERT, UPDATE, DELETE ON stats_dirty TO linkage_hub;  -- UPDATE: FOR UPDATE SKIP LOCKED

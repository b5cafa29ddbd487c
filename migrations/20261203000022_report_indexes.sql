-- A summary reads a period's facts of every metric (by time, not by metric first), and its breaches are the few
-- facts whose target was missed: both indexed, so that a month's summary reads a month's facts, not the year's.
CREATE INDEX IF NOT EXISTS report_facts_at_idx ON report_facts (at);
CREATE INDEX IF NOT EXISTS report_facts_breaches_idx ON report_facts (at) WHERE sla_met = false;

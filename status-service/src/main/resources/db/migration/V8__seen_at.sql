-- Issue 14: when an event was seen, so the pruning of old runs (launch.status.retention.runs) also bounds
-- run_event_seen; rows from before this migration count as seen now.
ALTER TABLE run_event_seen ADD COLUMN seen_at TIMESTAMPTZ NOT NULL DEFAULT now();
CREATE INDEX run_event_seen_at ON run_event_seen (seen_at);
CREATE INDEX run_ended_at ON run (updated_at) WHERE state IN ('FINISHED', 'FAILED', 'STOPPED');

-- Issue 11: a reason while STARTING / RUNNING / STOPPING (RunProgressed), when an agent last reported about a run
-- (an earlier incarnation of a restarted agent is told apart by it), who acted in each history entry (a run's
-- attempts and their agents and handles), and the target position of the last log line stored per batch (lines
-- read again by an adopter are stored once).
ALTER TABLE run ADD COLUMN pending_reason TEXT;
ALTER TABLE run ADD COLUMN agent_at TIMESTAMPTZ;
ALTER TABLE run_history ADD COLUMN attempt INTEGER;
ALTER TABLE run_history ADD COLUMN agent_id VARCHAR(200);
ALTER TABLE run_history ADD COLUMN target_handle VARCHAR(400);
ALTER TABLE run_log ADD COLUMN last_position BIGINT;
CREATE INDEX run_agent_held ON run (agent_id) WHERE state IN ('CLAIMED', 'STARTING', 'RUNNING', 'STOPPING');

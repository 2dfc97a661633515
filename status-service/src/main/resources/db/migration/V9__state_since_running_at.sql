-- when a run entered its current state (the age of the oldest STARTING or STOPPING run, per queue) and when it
-- last began RUNNING (the run's duration once it ends): both for the operations metrics
ALTER TABLE run ADD COLUMN state_since TIMESTAMPTZ;
ALTER TABLE run ADD COLUMN running_at TIMESTAMPTZ;
UPDATE run SET state_since = updated_at WHERE state NOT IN ('FINISHED', 'FAILED', 'STOPPED');

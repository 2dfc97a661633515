-- The oldest QUEUED run of a queue (GET /api/v1/queue-stats/{queue}) without scanning the queue's runs.
CREATE INDEX run_queue_state_created ON run (queue, state, created_at);

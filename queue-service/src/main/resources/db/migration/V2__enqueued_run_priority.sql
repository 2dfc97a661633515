-- The level of a run on a queue with priorities (null on queues without); positions count per level.
ALTER TABLE enqueued_run ADD COLUMN priority VARCHAR(16);
DROP INDEX enqueued_run_queue_offset;
CREATE INDEX enqueued_run_queue_level_offset ON enqueued_run (queue, priority, queue_offset);

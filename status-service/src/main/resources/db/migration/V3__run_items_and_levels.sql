-- The queue item a QUEUED run waits as (a reprioritization replaces it), and its level's rank
-- (0 = critical .. 3 = low; 0 on queues without priorities), so a position counts higher levels first.
ALTER TABLE run ADD COLUMN item_id VARCHAR(36);
ALTER TABLE run ADD COLUMN priority_rank SMALLINT NOT NULL DEFAULT 0;
UPDATE run SET item_id = run_id,
               priority_rank = CASE priority WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2
                                             WHEN 'low' THEN 3 ELSE 0 END;
DROP INDEX run_queue_state;
CREATE INDEX run_queue_state ON run (queue, state, priority_rank, queue_offset);

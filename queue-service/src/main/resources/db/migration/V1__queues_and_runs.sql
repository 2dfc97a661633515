-- Queues: lookup columns plus the whole definition as JSON.
CREATE TABLE queue (
    name       VARCHAR(63) PRIMARY KEY,
    document   TEXT        NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

-- Every run this service accepted, with the answer it gave: an enqueue retried with the same
-- idempotency key gets the same answer and no second run.
CREATE TABLE enqueued_run (
    run_id          VARCHAR(36)  PRIMARY KEY,
    queue           VARCHAR(63)  NOT NULL,
    idempotency_key VARCHAR(200),
    queue_offset    BIGINT,
    response        TEXT         NOT NULL,
    created_at      TIMESTAMPTZ  NOT NULL,
    CONSTRAINT enqueued_run_idempotency UNIQUE (queue, idempotency_key)
);

-- position of a run = accepted runs of its queue between the agents' committed offset and its own offset
-- (offsets are not counts: Kafka transaction markers take offsets too)
CREATE INDEX enqueued_run_queue_offset ON enqueued_run (queue, queue_offset);

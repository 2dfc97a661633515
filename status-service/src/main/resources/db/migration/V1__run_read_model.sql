-- The read model of runs, built from launch.runs; every applied event is remembered so a redelivered
-- event changes nothing.
CREATE TABLE run (
    run_id         VARCHAR(36)  PRIMARY KEY,
    queue          VARCHAR(63)  NOT NULL,
    job            VARCHAR(63),
    job_version    INTEGER,
    state          VARCHAR(16)  NOT NULL,
    attempt        INTEGER      NOT NULL DEFAULT 1,
    agent_id       VARCHAR(200),
    target_type    VARCHAR(40),
    target_handle  VARCHAR(400),
    exit_code      INTEGER,
    failure_stage  VARCHAR(16),
    failure_reason TEXT,
    queue_offset   BIGINT,
    priority       VARCHAR(16),
    stop_requested BOOLEAN      NOT NULL DEFAULT FALSE,
    created_at     TIMESTAMPTZ  NOT NULL,
    updated_at     TIMESTAMPTZ  NOT NULL
);
CREATE INDEX run_queue_state ON run (queue, state, queue_offset);
CREATE INDEX run_state ON run (state);

CREATE TABLE run_history (
    event_id   UUID         PRIMARY KEY,
    run_id     VARCHAR(36)  NOT NULL,
    seq        BIGSERIAL,
    state      VARCHAR(16)  NOT NULL,
    event_type VARCHAR(40)  NOT NULL,
    at         TIMESTAMPTZ  NOT NULL,
    reason     TEXT
);
CREATE INDEX run_history_run ON run_history (run_id, seq);

-- events seen, applied or refused by the state machine
CREATE TABLE run_event_seen (
    event_id UUID PRIMARY KEY
);

CREATE TABLE run_log (
    run_id   VARCHAR(36) NOT NULL,
    attempt  INTEGER     NOT NULL,
    seq      BIGINT      NOT NULL,
    content  TEXT        NOT NULL,
    PRIMARY KEY (run_id, attempt, seq)
);

CREATE TABLE agent (
    agent_id              VARCHAR(200) PRIMARY KEY,
    queues                TEXT         NOT NULL,
    max_jobs              INTEGER      NOT NULL,
    runs                  TEXT         NOT NULL,
    host                  VARCHAR(255),
    pid                   BIGINT,
    heartbeat_interval_ms BIGINT       NOT NULL,
    started_at            TIMESTAMPTZ  NOT NULL,
    last_heartbeat        TIMESTAMPTZ  NOT NULL,
    stopped               BOOLEAN      NOT NULL DEFAULT FALSE
);

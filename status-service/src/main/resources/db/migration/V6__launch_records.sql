-- Issue 11: a durable copy of each launch record that held on launch.run-commands (the item an agent started,
-- its handle on the target, whether the work outlives the agent), so a run of a lost agent is still adopted -
-- not retried beside its running work - once the record is older than the topic's retention.
CREATE TABLE run_launch (
    run_id     VARCHAR(64)  NOT NULL,
    item_id    VARCHAR(64)  NOT NULL,
    agent_id   VARCHAR(200) NOT NULL,
    handle     VARCHAR(400),
    adoptable  BOOLEAN      NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, item_id)
);

-- Issue 12: the last stored position per stream and source of an attempt's output (a multi-pod Kubernetes
-- workload's pods each count their own positions), so lines read again after an adoption are stored once per
-- source, and lines of one pod arriving after a later line of another are not taken for read.
CREATE TABLE run_log_mark (
    run_id        VARCHAR(36)  NOT NULL,
    attempt       INTEGER      NOT NULL,
    mark          VARCHAR(300) NOT NULL,
    last_position BIGINT       NOT NULL,
    PRIMARY KEY (run_id, attempt, mark)
);

-- One row per immutable job version. The served document is kept whole as JSON; the columns beside it
-- are what lookups need.
CREATE SEQUENCE job_version_seq START WITH 1 INCREMENT BY 50;

CREATE TABLE job_version (
    id         BIGINT PRIMARY KEY,
    name       VARCHAR(63)  NOT NULL,
    version    INTEGER      NOT NULL,
    digest     VARCHAR(80)  NOT NULL,
    document   TEXT         NOT NULL,
    created_at TIMESTAMPTZ  NOT NULL,
    CONSTRAINT job_version_name_version UNIQUE (name, version),
    CONSTRAINT job_version_name_digest UNIQUE (name, digest)
);

-- Named pointers to versions (e.g. prod -> 3). "latest" is not stored: it is always the highest version.
CREATE TABLE job_alias (
    name       VARCHAR(63) NOT NULL,
    alias      VARCHAR(63) NOT NULL,
    version    INTEGER     NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (name, alias),
    FOREIGN KEY (name, version) REFERENCES job_version (name, version)
);

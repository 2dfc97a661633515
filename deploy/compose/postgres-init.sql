-- Run once by the PostgreSQL image on an empty data volume: one database per service (each service makes its
-- own tables with Flyway at start).
CREATE DATABASE jobs;
CREATE DATABASE queues;
CREATE DATABASE status;

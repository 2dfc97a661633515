-- The source type of each version (code, git, image), so job lists can be filtered by it.
ALTER TABLE job_version ADD COLUMN source_type VARCHAR(16);
UPDATE job_version SET source_type = document::jsonb -> 'source' ->> 'type';
ALTER TABLE job_version ALTER COLUMN source_type SET NOT NULL;
CREATE INDEX job_version_source_type ON job_version (source_type, name);

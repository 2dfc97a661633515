-- What queue lists filter on, beside the definition: the target type and whether priorities are on.
ALTER TABLE queue ADD COLUMN target_type VARCHAR(40);
ALTER TABLE queue ADD COLUMN prioritization BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE queue SET target_type = document::jsonb -> 'target' ->> 'type',
                 prioritization = COALESCE((document::jsonb ->> 'prioritization')::boolean, FALSE);
ALTER TABLE queue ALTER COLUMN target_type SET NOT NULL;

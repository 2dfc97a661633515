-- The resolved run as queued (command, inputs, source, target config), from RunQueued.
ALTER TABLE run ADD COLUMN request TEXT;

-- The MCP proxy (issue 16). `exportable`: whether `…/credentials` may hand out the upstream
-- secret (false: only through the proxy), fixed when the connection is made; every connection made
-- before it was exportable. `last_used_at`: when the proxy last carried a call of it (Unix
-- seconds), written in batches. Same columns and meaning as migrations/postgres.
ALTER TABLE connections ADD COLUMN exportable BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE connections ADD COLUMN last_used_at BIGINT;

-- A discovered connection whose MCP server is of the 2025-03-26 revision: no protected resource
-- metadata, its origin the issuer, and no authorization server metadata there either, so the
-- default endpoints /authorize, /token and /register at that origin are used (and the metadata
-- looked for again at each refresh). FALSE for every connection made before this column, all of
-- which found metadata. Same column and meaning as migrations/sqlite.
ALTER TABLE discovered_authorizations ADD COLUMN default_endpoints BOOLEAN NOT NULL DEFAULT FALSE;

-- A discovered connection whose MCP server is of the 2025-03-26 revision: it published no
-- protected resource metadata, so its origin is the authorization server, whose metadata is looked
-- for there at every token call and, while there is none, the default endpoints /authorize,
-- /token and /register at that origin are used. FALSE for every connection made before this
-- column, all of which found protected resource metadata. Same column and meaning as
-- migrations/postgres.
ALTER TABLE discovered_authorizations ADD COLUMN at_origin BOOLEAN NOT NULL DEFAULT FALSE;

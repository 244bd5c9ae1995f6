-- The identity assertion grant (issue 18 §4; the MCP enterprise-managed authorization extension):
-- a connection whose token the service gets by exchanging the user's ID token at their enterprise
-- identity provider for an ID-JAG, which the MCP server's authorization server takes.
--
-- connections.grant_type takes 'identity_assertion' too. SQLite cannot change a CHECK in place:
-- the column is renamed, a new one with the wider CHECK added and filled, and the old one dropped
-- (no index or view names it). Such a connection's refresh_token column holds the user's ID token
-- (sealed as every refresh token is): the credential that renews it.
ALTER TABLE connections RENAME COLUMN grant_type TO grant_type_before;
ALTER TABLE connections ADD COLUMN grant_type TEXT NOT NULL DEFAULT 'authorization_code'
    CHECK (grant_type IN ('authorization_code', 'client_credentials', 'identity_assertion'));
UPDATE connections SET grant_type = grant_type_before;
ALTER TABLE connections DROP COLUMN grant_type_before;

-- The identity provider a connection's ID token is exchanged at, when it was given with the
-- connect: its issuer, token endpoint, the service's client id there and that client's secret,
-- sealed with `authorizations/<ref_id>/idp_client_secret` as associated data. NULL otherwise.
-- Same columns and meaning as migrations/postgres.
ALTER TABLE discovered_authorizations ADD COLUMN idp_issuer TEXT;
ALTER TABLE discovered_authorizations ADD COLUMN idp_token_endpoint TEXT;
ALTER TABLE discovered_authorizations ADD COLUMN idp_client_id TEXT;
ALTER TABLE discovered_authorizations ADD COLUMN idp_client_secret BLOB;

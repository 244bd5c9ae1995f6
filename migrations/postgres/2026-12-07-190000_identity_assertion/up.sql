-- The identity assertion grant (issue 18 §4; the MCP enterprise-managed authorization extension):
-- a connection whose token the service gets by exchanging the user's ID token at their enterprise
-- identity provider for an ID-JAG, which the MCP server's authorization server takes.
--
-- connections.grant_type takes 'identity_assertion' too. Such a connection's refresh_token
-- column holds the user's ID token (sealed as every refresh token is): the credential that
-- renews it.
ALTER TABLE connections DROP CONSTRAINT connections_grant_type_check;
ALTER TABLE connections ADD CONSTRAINT connections_grant_type_check
    CHECK (grant_type IN ('authorization_code', 'client_credentials', 'identity_assertion'));

-- The identity provider a connection's ID token is exchanged at, when it was given with the
-- connect: its issuer, token endpoint, the service's client id there and that client's secret,
-- sealed with `authorizations/<ref_id>/idp_client_secret` as associated data. NULL otherwise.
-- Same columns and meaning as migrations/sqlite.
ALTER TABLE discovered_authorizations ADD COLUMN idp_issuer TEXT;
ALTER TABLE discovered_authorizations ADD COLUMN idp_token_endpoint TEXT;
ALTER TABLE discovered_authorizations ADD COLUMN idp_client_id TEXT;
ALTER TABLE discovered_authorizations ADD COLUMN idp_client_secret BYTEA;

ALTER TABLE discovered_authorizations DROP COLUMN idp_client_secret;
ALTER TABLE discovered_authorizations DROP COLUMN idp_client_id;
ALTER TABLE discovered_authorizations DROP COLUMN idp_token_endpoint;
ALTER TABLE discovered_authorizations DROP COLUMN idp_issuer;
DELETE FROM connections WHERE grant_type = 'identity_assertion';
ALTER TABLE connections DROP CONSTRAINT connections_grant_type_check;
ALTER TABLE connections ADD CONSTRAINT connections_grant_type_check
    CHECK (grant_type IN ('authorization_code', 'client_credentials'));

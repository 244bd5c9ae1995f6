ALTER TABLE discovered_authorizations DROP COLUMN idp_client_secret;
ALTER TABLE discovered_authorizations DROP COLUMN idp_client_id;
ALTER TABLE discovered_authorizations DROP COLUMN idp_token_endpoint;
ALTER TABLE discovered_authorizations DROP COLUMN idp_issuer;
DELETE FROM connections WHERE grant_type = 'identity_assertion';
ALTER TABLE connections RENAME COLUMN grant_type TO grant_type_before;
ALTER TABLE connections ADD COLUMN grant_type TEXT NOT NULL DEFAULT 'authorization_code'
    CHECK (grant_type IN ('authorization_code', 'client_credentials'));
UPDATE connections SET grant_type = grant_type_before;
ALTER TABLE connections DROP COLUMN grant_type_before;

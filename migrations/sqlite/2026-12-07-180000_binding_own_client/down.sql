ALTER TABLE discovered_authorizations DROP COLUMN signing_algorithm;
ALTER TABLE discovered_authorizations DROP COLUMN client_secret;
ALTER TABLE discovered_authorizations DROP COLUMN client_auth;

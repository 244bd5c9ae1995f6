-- A custom server connected with a client of its user's own (`server_config.client_id` with a
-- `client_secret`, or a `private_key_pem` and `signing_algorithm`; issue 18 §3): how it
-- authenticates at the token endpoint, its secret or private key sealed with
-- `authorizations/<ref_id>/client_secret` as associated data, and the key's algorithm. NULL for
-- every other connection, whose client is found by its `client_id`. Same columns and meaning as
-- migrations/postgres.
ALTER TABLE discovered_authorizations ADD COLUMN client_auth TEXT;
ALTER TABLE discovered_authorizations ADD COLUMN client_secret BLOB;
ALTER TABLE discovered_authorizations ADD COLUMN signing_algorithm TEXT;

-- Who signed in at the provider (an OIDC id_token's email or sub, or a field of the token
-- response a well-known provider uses), so several accounts on one server can be told apart:
-- 1 to 255 characters, checked by domain::Account. Never a secret. NULL when the provider did
-- not say, which is every connection made before this column. Same column and meaning as
-- migrations/sqlite.
ALTER TABLE connections ADD COLUMN account TEXT;

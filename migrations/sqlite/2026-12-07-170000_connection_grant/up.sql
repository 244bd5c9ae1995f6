-- How an OAuth connection's token is renewed: 'authorization_code' (a user authorized it; its
-- refresh token renews it) or 'client_credentials' (no user: the grant is made again, before the
-- token expires, by the scheduler as by the credentials route). Kept with the connection so a
-- catalog entry that changes its auth_method changes nothing for connections already made.
-- Every connection made before this column was authorized by a user. Same column and meaning as
-- migrations/postgres.
ALTER TABLE connections ADD COLUMN grant_type TEXT NOT NULL DEFAULT 'authorization_code'
    CHECK (grant_type IN ('authorization_code', 'client_credentials'));

-- Connect sessions (issue 15): what a browser front end may do without the engine key. Only the
-- SHA-256 of the token is stored. allowed_servers is a space-separated list of server names
-- (NULL: any catalog server). Same table and meaning as migrations/postgres.
CREATE TABLE connect_sessions (
    token_hash      TEXT NOT NULL PRIMARY KEY,
    tenant_id       TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    allowed_servers TEXT,
    return_to       TEXT,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL
);
-- The sweep of expired sessions.
CREATE INDEX connect_sessions_by_expiry ON connect_sessions (expires_at);

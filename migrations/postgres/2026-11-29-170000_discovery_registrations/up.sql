-- MCP authorization discovery (spec §5.2): the client the service registered at each
-- authorization server, and the authorization server each discovered connection belongs to.
-- Same tables and meaning as migrations/sqlite.

-- One registration per issuer (RFC 7591). The secret is a sealed envelope, never plaintext.
CREATE TABLE client_registrations (
    issuer            TEXT COLLATE "C" PRIMARY KEY,
    client_id         TEXT   NOT NULL,
    client_secret     BYTEA,
    auth_method       TEXT   NOT NULL
                      CHECK (auth_method IN ('client_secret_basic', 'client_secret_post', 'none')),
    redirect_uri      TEXT   NOT NULL,
    secret_expires_at BIGINT,
    created_at        BIGINT NOT NULL
);

-- Which issuer, client and resource a discovered connection's tokens belong to. Goes with the
-- connection.
CREATE TABLE discovered_authorizations (
    ref_id    TEXT COLLATE "C" PRIMARY KEY REFERENCES connections (ref_id) ON DELETE CASCADE,
    issuer    TEXT NOT NULL,
    client_id TEXT NOT NULL,
    resource  TEXT NOT NULL
);

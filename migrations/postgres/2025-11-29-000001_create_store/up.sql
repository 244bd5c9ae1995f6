-- The Asset Directory's store on PostgreSQL: the same tables, columns and meaning as
-- migrations/sqlite. Timestamps are Unix seconds (BIGINT); secrets are sealed envelopes (BYTEA)
-- that only the cipher opens; scopes are space-delimited as OAuth sends them.

CREATE TABLE connections (
    ref_id        TEXT COLLATE "C" PRIMARY KEY,
    server_name   TEXT   NOT NULL,
    display_name  TEXT,
    url           TEXT,
    transport     TEXT   NOT NULL CHECK (transport IN ('streamable_http', 'sse', 'stdio')),
    auth_method   TEXT   NOT NULL CHECK (auth_method IN ('oauth', 'api_key', 'none')),
    status        TEXT   NOT NULL
                  CHECK (status IN ('pending_oauth', 'connected', 'expired', 'failed')),
    status_reason TEXT,
    scopes        TEXT   NOT NULL DEFAULT '',
    expires_at    BIGINT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    api_key       BYTEA,
    access_token  BYTEA,
    refresh_token BYTEA
);

-- The refresh scheduler looks for connected tokens that expire soon.
CREATE INDEX connections_status_expires_at ON connections (status, expires_at);
-- Listing is oldest first.
CREATE INDEX connections_created_at_ref_id ON connections (created_at, ref_id);

CREATE TABLE oauth_flows (
    state_hash    TEXT PRIMARY KEY,
    ref_id        TEXT    COLLATE "C" NOT NULL REFERENCES connections (ref_id) ON DELETE CASCADE,
    issuer        TEXT,
    iss_required  BOOLEAN NOT NULL,
    pkce_verifier BYTEA   NOT NULL,
    redirect_uri  TEXT    NOT NULL,
    scopes        TEXT    NOT NULL DEFAULT '',
    resource      TEXT,
    return_to     TEXT,
    created_at    BIGINT  NOT NULL,
    expires_at    BIGINT  NOT NULL
);

CREATE INDEX oauth_flows_expires_at ON oauth_flows (expires_at);
-- Deleting a connection cascades to its flows through this index.
CREATE INDEX oauth_flows_ref_id ON oauth_flows (ref_id);

-- Append-only history. No foreign key: events outlive the connection they describe.
CREATE TABLE audit_events (
    id          BIGSERIAL PRIMARY KEY,
    ref_id      TEXT   NOT NULL,
    server_name TEXT   NOT NULL,
    kind        TEXT   NOT NULL,
    detail      TEXT,
    at          BIGINT NOT NULL
);

CREATE INDEX audit_events_ref_id_id ON audit_events (ref_id, id);

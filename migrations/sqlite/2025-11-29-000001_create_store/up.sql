-- The Asset Directory's store on SQLite: the same tables, columns and meaning as
-- migrations/postgres. Timestamps are Unix seconds (BIGINT); secrets are sealed envelopes (BLOB)
-- that only the cipher opens; scopes are space-delimited as OAuth sends them.

CREATE TABLE connections (
    ref_id        TEXT   NOT NULL PRIMARY KEY,
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
    api_key       BLOB,
    access_token  BLOB,
    refresh_token BLOB
);

-- The refresh scheduler looks for connected tokens that expire soon.
CREATE INDEX connections_status_expires_at ON connections (status, expires_at);
-- Listing is oldest first.
CREATE INDEX connections_created_at_ref_id ON connections (created_at, ref_id);

CREATE TABLE oauth_flows (
    state_hash    TEXT    NOT NULL PRIMARY KEY,
    ref_id        TEXT    NOT NULL REFERENCES connections (ref_id) ON DELETE CASCADE,
    issuer        TEXT,
    iss_required  BOOLEAN NOT NULL CHECK (iss_required IN (0, 1)),
    pkce_verifier BLOB    NOT NULL,
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
-- AUTOINCREMENT: an id is never reused, so recording order stays the id order.
CREATE TABLE audit_events (
    id          INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    ref_id      TEXT    NOT NULL,
    server_name TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    detail      TEXT,
    at          BIGINT  NOT NULL
);

CREATE INDEX audit_events_ref_id_id ON audit_events (ref_id, id);

-- Client registrations are kept per (issuer, client id), so a connection bound to a client keeps
-- finding it after the service registers another client at the same issuer (a new redirect URI
-- after the upgrade to one redirect URI per authorization server, or a pinned catalog entry and
-- a custom server sharing an issuer). The client used for new flows is the one registered with
-- their redirect URI: unique per (issuer, redirect_uri) among those not retired. A client whose
-- secret is about to expire is retired (retired_at) rather than deleted, so the connections bound
-- to it keep it while its secret works.
-- registration_key ("issuer client_id"; issuers hold no whitespace) is the one-column key the
-- re-encryption walk addresses a client secret by. SQLite cannot change a primary key in place,
-- so the table is rebuilt. Same tables and meaning as migrations/postgres.
CREATE TABLE client_registrations_next (
    issuer            TEXT   NOT NULL,
    client_id         TEXT   NOT NULL,
    client_secret     BLOB,
    auth_method       TEXT   NOT NULL
                      CHECK (auth_method IN ('client_secret_basic', 'client_secret_post', 'none')),
    redirect_uri      TEXT   NOT NULL,
    secret_expires_at BIGINT,
    created_at        BIGINT NOT NULL,
    retired_at        BIGINT,
    registration_key  TEXT   NOT NULL GENERATED ALWAYS AS (issuer || ' ' || client_id) STORED,
    PRIMARY KEY (issuer, client_id)
);
INSERT INTO client_registrations_next
       (issuer, client_id, client_secret, auth_method, redirect_uri, secret_expires_at, created_at)
SELECT  issuer, client_id, client_secret, auth_method, redirect_uri, secret_expires_at, created_at
  FROM client_registrations;
DROP TABLE client_registrations;
ALTER TABLE client_registrations_next RENAME TO client_registrations;
CREATE UNIQUE INDEX client_registrations_per_redirect_uri ON client_registrations (issuer, redirect_uri)
    WHERE retired_at IS NULL;
CREATE UNIQUE INDEX client_registrations_by_key ON client_registrations (registration_key);

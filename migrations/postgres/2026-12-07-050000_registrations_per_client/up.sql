-- Client registrations are kept per (issuer, client id), so a connection bound to a client keeps
-- finding it after the service registers another client at the same issuer (a new redirect URI
-- after the upgrade to one redirect URI per authorization server, or a pinned catalog entry and
-- a custom server sharing an issuer). The client used for new flows is the one registered with
-- their redirect URI: unique per (issuer, redirect_uri) among those not retired. A client whose
-- secret is about to expire is retired (retired_at) rather than deleted, so the connections bound
-- to it keep it while its secret works.
-- registration_key ("issuer client_id"; issuers hold no whitespace) is the one-column key the
-- re-encryption walk addresses a client secret by. Same tables and meaning as migrations/sqlite.
ALTER TABLE client_registrations DROP CONSTRAINT client_registrations_pkey;
ALTER TABLE client_registrations ADD PRIMARY KEY (issuer, client_id);
ALTER TABLE client_registrations ADD COLUMN retired_at BIGINT;
ALTER TABLE client_registrations
    ADD COLUMN registration_key TEXT COLLATE "C" NOT NULL GENERATED ALWAYS AS (issuer || ' ' || client_id) STORED;
CREATE UNIQUE INDEX client_registrations_per_redirect_uri ON client_registrations (issuer, redirect_uri)
    WHERE retired_at IS NULL;
CREATE UNIQUE INDEX client_registrations_by_key ON client_registrations (registration_key);

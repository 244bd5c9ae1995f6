-- Back to one registration per issuer: the newest is kept (connections bound to the others lose
-- their client, as they did before this migration).
CREATE TABLE client_registrations_prev (
    issuer            TEXT   NOT NULL PRIMARY KEY,
    client_id         TEXT   NOT NULL,
    client_secret     BLOB,
    auth_method       TEXT   NOT NULL
                      CHECK (auth_method IN ('client_secret_basic', 'client_secret_post', 'none')),
    redirect_uri      TEXT   NOT NULL,
    secret_expires_at BIGINT,
    created_at        BIGINT NOT NULL
);
INSERT INTO client_registrations_prev
SELECT issuer, client_id, client_secret, auth_method, redirect_uri, secret_expires_at, created_at
  FROM client_registrations r
 WHERE NOT EXISTS (SELECT 1 FROM client_registrations n
                    WHERE n.issuer = r.issuer
                      AND (n.created_at > r.created_at OR (n.created_at = r.created_at AND n.client_id > r.client_id)));
DROP TABLE client_registrations;
ALTER TABLE client_registrations_prev RENAME TO client_registrations;

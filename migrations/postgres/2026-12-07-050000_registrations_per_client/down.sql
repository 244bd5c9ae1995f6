-- Back to one registration per issuer: the newest is kept (connections bound to the others lose
-- their client, as they did before this migration).
DELETE FROM client_registrations r
 WHERE EXISTS (SELECT 1 FROM client_registrations n
                WHERE n.issuer = r.issuer
                  AND (n.created_at > r.created_at OR (n.created_at = r.created_at AND n.client_id > r.client_id)));
DROP INDEX client_registrations_by_key;
DROP INDEX client_registrations_per_redirect_uri;
ALTER TABLE client_registrations DROP COLUMN registration_key;
ALTER TABLE client_registrations DROP COLUMN retired_at;
ALTER TABLE client_registrations DROP CONSTRAINT client_registrations_pkey;
ALTER TABLE client_registrations ADD PRIMARY KEY (issuer);

DROP INDEX connections_owner_created_at_ref_id;
CREATE INDEX connections_created_at_ref_id ON connections (created_at, ref_id);
ALTER TABLE audit_events DROP COLUMN user_id;
ALTER TABLE audit_events DROP COLUMN tenant_id;
ALTER TABLE connections DROP COLUMN user_id;
ALTER TABLE connections DROP COLUMN tenant_id;

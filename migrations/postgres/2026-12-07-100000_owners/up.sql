-- Owners (issue 15): every connection and audit event belongs to one tenant (whose engine key
-- called) and one end user (X-End-User-Id). Rows stored before owners existed move to tenant
-- 'default', user 'default', which is what a call that names neither acts for, so the seed API
-- keeps seeing them. Same columns, defaults and indexes as migrations/sqlite.
--
-- oauth_flows gets no owner columns: a flow always belongs to one connection (its ref_id, NOT
-- NULL, ON DELETE CASCADE), so it reaches its owner through that row, and a second copy of the
-- owner could only disagree with it.
ALTER TABLE connections ADD COLUMN tenant_id TEXT COLLATE "C" NOT NULL DEFAULT 'default';
ALTER TABLE connections ADD COLUMN user_id TEXT COLLATE "C" NOT NULL DEFAULT 'default';
ALTER TABLE audit_events ADD COLUMN tenant_id TEXT COLLATE "C" NOT NULL DEFAULT 'default';
ALTER TABLE audit_events ADD COLUMN user_id TEXT COLLATE "C" NOT NULL DEFAULT 'default';

-- A user's list, oldest first (the order listing always had): nothing lists every owner's
-- connections any more, so the index that served that goes. The refresh scheduler's due-token
-- scan keeps connections_status_expires_at, untouched.
DROP INDEX connections_created_at_ref_id;
CREATE INDEX connections_owner_created_at_ref_id ON connections (tenant_id, user_id, created_at, ref_id);

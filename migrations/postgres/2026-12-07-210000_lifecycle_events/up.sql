-- Lifecycle events (issue 17). Same tables and meaning as migrations/sqlite.
--
-- An audit event that announces a lifecycle event carries it in its `event_*` columns; the
-- trigger below copies it into `events` in the same transaction, and the one on `events` queues a
-- delivery to each enabled webhook endpoint of the tenant whose filter takes it. So no write path
-- can store a change without its event, nor an event without its deliveries.
ALTER TABLE audit_events ADD COLUMN event_id TEXT;
ALTER TABLE audit_events ADD COLUMN event_type TEXT;
ALTER TABLE audit_events ADD COLUMN event_standing TEXT;
ALTER TABLE audit_events ADD COLUMN event_previous TEXT;
ALTER TABLE audit_events ADD COLUMN event_reason TEXT;

-- `seq` orders each connection's deliveries; never reused. `txid` is the writing transaction:
-- the feed lists only events of transactions older than every running one, by (txid, seq), so a
-- transaction that commits late (its events numbered before others') is never skipped.
CREATE TABLE events (
    seq BIGSERIAL PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    tenant_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    ref_id TEXT NOT NULL,
    server_name TEXT NOT NULL,
    event_type TEXT NOT NULL,
    standing TEXT NOT NULL,
    previous TEXT,
    reason TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    txid xid8 NOT NULL DEFAULT pg_current_xact_id()
);
-- The feed's order (postgres-adapter `FeedAfter`): by writing transaction, then `seq`.
CREATE INDEX events_of_tenant ON events (tenant_id, txid, seq);
CREATE INDEX events_of_user ON events (tenant_id, user_id, txid, seq);
CREATE INDEX events_by_age ON events (created_at);

-- `events`: the types it takes, each between spaces (` connection.expired connection.failed `);
-- NULL takes every type. Secrets are sealed (`webhooks/<id>/secret`, `…/previous_secret`).
CREATE TABLE webhooks (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    url TEXT NOT NULL,
    events TEXT,
    secret BYTEA NOT NULL,
    previous_secret BYTEA,
    previous_until BIGINT,
    enabled BOOLEAN NOT NULL,
    disabled_reason TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX webhooks_of_tenant ON webhooks (tenant_id, created_at, id);

-- One event's delivery to one endpoint. `next_at`: when a pending one is tried next;
-- `retry_from`: retries stop WEBHOOK_RETRY_HOURS after it; the lease is the dispatcher's.
-- No foreign key to `webhooks`: a change committing while its tenant's endpoint is deleted may
-- queue a delivery to it (its trigger still saw the endpoint), and must not fail for that. The
-- endpoint's delete deletes its deliveries; one queued so is never claimed nor listed (both join
-- `webhooks`) and does not keep its event from pruning, which deletes it with the event.
CREATE TABLE deliveries (
    webhook_id TEXT NOT NULL,
    seq BIGINT NOT NULL REFERENCES events (seq) ON DELETE CASCADE,
    ref_id TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    last_status INTEGER,
    last_error TEXT,
    next_at BIGINT NOT NULL,
    retry_from BIGINT NOT NULL,
    lease_owner TEXT,
    lease_until BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (webhook_id, seq)
);
CREATE INDEX deliveries_due ON deliveries (next_at, seq) WHERE state = 'pending';
CREATE INDEX deliveries_in_order ON deliveries (webhook_id, ref_id, seq) WHERE state = 'pending';
CREATE INDEX deliveries_of_event ON deliveries (seq);

CREATE FUNCTION announce_event() RETURNS trigger AS $$
BEGIN
    INSERT INTO events (event_id, tenant_id, user_id, ref_id, server_name, event_type, standing, previous, reason,
                        created_at)
    VALUES (NEW.event_id, NEW.tenant_id, NEW.user_id, NEW.ref_id, NEW.server_name, NEW.event_type,
            NEW.event_standing, NEW.event_previous, NEW.event_reason, NEW.at);
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER audit_events_announce AFTER INSERT ON audit_events
    FOR EACH ROW WHEN (NEW.event_id IS NOT NULL) EXECUTE FUNCTION announce_event();

CREATE FUNCTION queue_deliveries() RETURNS trigger AS $$
BEGIN
    INSERT INTO deliveries (webhook_id, seq, ref_id, state, next_at, retry_from)
    SELECT w.id, NEW.seq, NEW.ref_id, 'pending', NEW.created_at, NEW.created_at
    FROM webhooks w
    WHERE w.tenant_id = NEW.tenant_id AND w.enabled
      AND (w.events IS NULL OR position(' ' || NEW.event_type || ' ' IN w.events) > 0);
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER events_queue_deliveries AFTER INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION queue_deliveries();

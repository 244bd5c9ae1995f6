DROP INDEX deliveries_pending_in_order;
DROP INDEX deliveries_due;
CREATE INDEX deliveries_due ON deliveries (next_at, seq) WHERE state = 'pending';
CREATE INDEX deliveries_pending_in_order ON deliveries (seq) WHERE state = 'pending';

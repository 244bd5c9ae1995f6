-- The dispatcher's claim (diesel-store `deliveries::claimable`) takes the first due deliveries
-- in event order (`ORDER BY seq LIMIT n`), each the first pending one of its connection (a
-- subquery on `deliveries_in_order`: no earlier pending delivery of the same endpoint and
-- connection). docs/benchmarks.md, "Lifecycle events", has the plans behind this migration.
--
-- The per-connection test must only ever use `deliveries_in_order` (endpoint, connection, seq).
-- With statistics older than a burst of deliveries, PostgreSQL took any partial index of the
-- pending deliveries for a nearly empty one and scanned it whole per candidate (1.6 to 2.3 s per
-- claim of 256 with 30,000 pending, through `deliveries_due` as through
-- `deliveries_pending_in_order`). So the claim's two indexes also say `next_at IS NOT NULL`
-- (always true: the column is NOT NULL): the claim's `next_at <= ...` implies it, the
-- per-connection test, which says nothing of `next_at`, does not, and cannot use them.
DROP INDEX deliveries_due;
DROP INDEX deliveries_pending_in_order;
CREATE INDEX deliveries_due ON deliveries (next_at, seq) WHERE state = 'pending' AND next_at IS NOT NULL;
CREATE INDEX deliveries_pending_in_order ON deliveries (seq) WHERE state = 'pending' AND next_at IS NOT NULL;

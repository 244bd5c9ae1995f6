-- The dispatcher's claim takes the first due deliveries in event order (`ORDER BY seq LIMIT n`,
-- diesel-store `deliveries::claimable`). Without an index of the pending ones by `seq`, the
-- planner read them in order through `deliveries_of_event`, passing every delivered or failed
-- delivery still kept (for `EVENT_RETENTION_DAYS`) before the first pending one, on every claim;
-- or it sorted every due delivery. docs/benchmarks.md, "Lifecycle events".
CREATE INDEX deliveries_pending_in_order ON deliveries (seq) WHERE state = 'pending';

-- The refresh queue (spec §7): a lease per connection, so that exactly one refresher works on a
-- token at a time, and the backoff state of its failed attempts. Same columns and meaning as
-- migrations/postgres.
--
-- lease_owner / lease_until: who holds the lease and until when (Unix seconds); free when NULL
-- or in the past. refresh_failures: failed attempts in a row. next_attempt_at: no claim before.
ALTER TABLE connections ADD COLUMN lease_owner TEXT;
ALTER TABLE connections ADD COLUMN lease_until BIGINT;
ALTER TABLE connections ADD COLUMN refresh_failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE connections ADD COLUMN next_attempt_at BIGINT;

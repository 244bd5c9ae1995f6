-- The refresh queue (spec §7): a lease per connection, so that of several replicas exactly one
-- refreshes a token at a time, and the backoff state of its failed attempts. Same columns and
-- meaning as migrations/sqlite.
--
-- lease_owner / lease_until: who holds the lease and until when (Unix seconds); free when NULL
-- or in the past. refresh_failures: failed attempts in a row. next_attempt_at: no claim before.
ALTER TABLE connections
    ADD COLUMN lease_owner      TEXT,
    ADD COLUMN lease_until      BIGINT,
    ADD COLUMN refresh_failures INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN next_attempt_at  BIGINT;

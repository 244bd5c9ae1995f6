-- Reverts 2026-11-29-190000_refresh_leases.
ALTER TABLE connections
    DROP COLUMN next_attempt_at,
    DROP COLUMN refresh_failures,
    DROP COLUMN lease_until,
    DROP COLUMN lease_owner;

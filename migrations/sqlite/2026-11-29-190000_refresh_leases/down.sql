-- Reverts 2026-11-29-190000_refresh_leases.
ALTER TABLE connections DROP COLUMN next_attempt_at;
ALTER TABLE connections DROP COLUMN refresh_failures;
ALTER TABLE connections DROP COLUMN lease_until;
ALTER TABLE connections DROP COLUMN lease_owner;

-- Reverts 2026-11-29-170000_discovery_registrations.
DROP TABLE discovered_authorizations;
DROP TABLE client_registrations;

-- Reverts 2025-11-29-000001_create_store: drops the store's tables (indexes go with them).
DROP TABLE audit_events;
DROP TABLE oauth_flows;
DROP TABLE connections;

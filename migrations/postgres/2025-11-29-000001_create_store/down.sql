DROP TABLE audit_events;
DROP TABLE oauth_flows;
DROP TABLE connections;

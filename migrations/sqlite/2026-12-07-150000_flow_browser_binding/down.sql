ALTER TABLE oauth_flows DROP COLUMN browser_hash;

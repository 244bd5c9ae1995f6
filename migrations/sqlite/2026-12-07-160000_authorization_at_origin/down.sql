ALTER TABLE discovered_authorizations DROP COLUMN at_origin;

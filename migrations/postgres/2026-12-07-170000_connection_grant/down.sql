ALTER TABLE connections DROP COLUMN grant_type;

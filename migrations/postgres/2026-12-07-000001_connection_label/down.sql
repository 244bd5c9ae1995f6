ALTER TABLE connections DROP COLUMN label;

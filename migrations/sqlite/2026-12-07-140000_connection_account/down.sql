ALTER TABLE connections DROP COLUMN account;

ALTER TABLE connections DROP COLUMN last_used_at;
ALTER TABLE connections DROP COLUMN exportable;

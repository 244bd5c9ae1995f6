-- The caller's own name for a connection, telling apart several accounts on one server
-- ("work", "personal"): 1 to 64 characters, checked by domain::Label. NULL when none was given,
-- which is every connection made before this column. Same column and meaning as
-- migrations/sqlite.
ALTER TABLE connections ADD COLUMN label TEXT;

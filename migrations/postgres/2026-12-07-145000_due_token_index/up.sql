-- The refresh scheduler's due scan (diesel_store::refresh::due) reads only connected OAuth rows
-- by expiry (an unknown one as -1, first): a partial index over exactly those, so a round that
-- finds nothing costs an index range, not a scan of every connected row (at 1M rows, mostly API
-- keys, whose status is 'connected' too).
-- The query repeats the expression and predicate as text. Same index as migrations/sqlite.
CREATE INDEX connections_due ON connections ((COALESCE(expires_at, -1))) WHERE status = 'connected' AND auth_method = 'oauth';

-- The SHA-256 (hex) of the browser nonce a flow started on the hosted connect page is bound to;
-- NULL for a flow the engine started, which any browser may complete.
ALTER TABLE oauth_flows ADD COLUMN browser_hash TEXT;

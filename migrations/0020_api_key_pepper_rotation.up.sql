-- Rotating ATRIUM_SECRET_KEY without breaking a client. Only a keyed hash of each API key is
-- stored, so a key can move to the new pepper only when it is presented: while
-- ATRIUM_SECRET_KEY_PREVIOUS is set, a key that misses under the current pepper is looked up
-- under the previous one and, when found, re-hashed in place by the server's owner connection
-- (no function lets atrium_app rewrite a key's hash). pepper_id (a fingerprint of the pepper,
-- never the pepper) tells `atrium rotate-secret` how many keys are left to move; NULL is a key
-- stored before this migration, which the server labels at start while no rotation is under way.
ALTER TABLE api_keys ADD COLUMN IF NOT EXISTS pepper_id TEXT;

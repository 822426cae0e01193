-- Rotating ATRIUM_SECRET_KEY without breaking a client. Only a keyed hash of each API key is
-- stored, so a key can move to the new pepper only when it is presented: while
-- ATRIUM_SECRET_KEY_PREVIOUS is set, a key that misses under the current pepper is looked up
-- under the previous one and, when found, re-hashed in place. pepper_id (a fingerprint of the
-- pepper, never the pepper) tells `atrium rotate-secret` how many keys are left to move; NULL
-- is a key stored before this migration, which the server marks at start while no rotation is
-- under way.
ALTER TABLE api_keys ADD COLUMN IF NOT EXISTS pepper_id TEXT;

CREATE OR REPLACE FUNCTION atrium_api_key_rehash(p_old BYTEA, p_new BYTEA, p_pepper_id TEXT)
RETURNS BOOLEAN
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
  UPDATE api_keys SET key_hash = p_new, pepper_id = p_pepper_id WHERE key_hash = p_old;
  RETURN FOUND;
END
$$;
REVOKE ALL ON FUNCTION atrium_api_key_rehash(BYTEA, BYTEA, TEXT) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION atrium_api_key_rehash(BYTEA, BYTEA, TEXT) TO atrium_app;

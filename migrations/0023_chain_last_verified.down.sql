DROP FUNCTION IF EXISTS atrium_chain_last_verified();

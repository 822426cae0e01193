DROP TRIGGER IF EXISTS companies_keys_changed ON companies;
DROP FUNCTION IF EXISTS atrium_company_keys_changed();
DROP TRIGGER IF EXISTS api_keys_changed ON api_keys;
DROP FUNCTION IF EXISTS atrium_api_key_changed();
DROP FUNCTION IF EXISTS atrium_api_key_lookup(BYTEA[]);
DROP INDEX IF EXISTS idx_api_keys_rolled_from;
ALTER TABLE api_keys DROP COLUMN IF EXISTS updated_at, DROP COLUMN IF EXISTS rolled_at,
  DROP COLUMN IF EXISTS rolled_from;

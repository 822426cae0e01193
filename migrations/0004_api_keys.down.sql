DROP TABLE IF EXISTS api_key_usage CASCADE;
DROP TABLE IF EXISTS api_keys;
DROP FUNCTION IF EXISTS atrium_ensure_monthly_partitions(REGCLASS, INTEGER);

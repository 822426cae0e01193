DO $$
BEGIN
  IF to_regprocedure('atrium_api_key_lookup(bytea[])') IS NULL THEN
    RAISE EXCEPTION 'atrium_api_key_lookup(bytea[]) is missing';
  END IF;
  IF NOT has_function_privilege('atrium_app', 'atrium_api_key_lookup(bytea[])', 'EXECUTE') THEN
    RAISE EXCEPTION 'atrium_app cannot run atrium_api_key_lookup';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'api_keys_changed' AND tgrelid = 'api_keys'::regclass) THEN
    RAISE EXCEPTION 'trigger api_keys_changed is missing';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'companies_keys_changed' AND tgrelid = 'companies'::regclass) THEN
    RAISE EXCEPTION 'trigger companies_keys_changed is missing';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM information_schema.columns
                  WHERE table_name = 'api_keys' AND column_name = 'rolled_from') THEN
    RAISE EXCEPTION 'api_keys.rolled_from is missing';
  END IF;
END $$;

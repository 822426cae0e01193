DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_name = 'api_keys' AND column_name = 'pepper_id') THEN
    RAISE EXCEPTION 'api_keys.pepper_id is missing';
  END IF;
  IF has_function_privilege('public', 'atrium_api_key_rehash(bytea, bytea, text)', 'EXECUTE') THEN
    RAISE EXCEPTION 'atrium_api_key_rehash must not be executable by PUBLIC';
  END IF;
END $$;

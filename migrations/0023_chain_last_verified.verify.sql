DO $$
BEGIN
  IF to_regprocedure('atrium_chain_last_verified()') IS NULL THEN
    RAISE EXCEPTION 'atrium_chain_last_verified() is missing';
  END IF;
  IF has_function_privilege('public', 'atrium_chain_last_verified()', 'EXECUTE') THEN
    RAISE EXCEPTION 'atrium_chain_last_verified() must not be open to PUBLIC';
  END IF;
END $$;

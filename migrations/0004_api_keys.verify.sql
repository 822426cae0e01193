-- From the seed: the tables, their indexes and constraints.
DO $$
BEGIN
  IF to_regclass('public.api_keys') IS NULL OR to_regclass('public.api_key_usage') IS NULL THEN
    RAISE EXCEPTION 'api key tables missing';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = 'api_keys'::regclass
                 AND conname = 'api_keys_key_hash_key' AND contype = 'u') THEN
    RAISE EXCEPTION 'api_keys.key_hash is not unique';
  END IF;
  IF (SELECT count(*) FROM pg_constraint WHERE conrelid = 'api_keys'::regclass
      AND conname IN ('valid_expiry', 'valid_revocation')) <> 2 THEN
    RAISE EXCEPTION 'api_keys constraints missing';
  END IF;
  -- Our own: usage is partitioned, with this month's partition in place.
  IF (SELECT relkind FROM pg_class WHERE oid = 'api_key_usage'::regclass) <> 'p' THEN
    RAISE EXCEPTION 'api_key_usage is not partitioned';
  END IF;
  IF to_regclass('api_key_usage_' || to_char(now() AT TIME ZONE 'UTC', 'YYYY_MM')) IS NULL THEN
    RAISE EXCEPTION 'api_key_usage has no partition for this month';
  END IF;
  -- No second index on key_hash next to the UNIQUE one.
  IF (SELECT count(*) FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
      WHERE i.indrelid = 'api_keys'::regclass AND a.attname = 'key_hash') <> 1 THEN
    RAISE EXCEPTION 'key_hash is indexed more than once';
  END IF;
END $$;

-- A key whose hash is not 32 bytes is refused.
DO $$
BEGIN
  BEGIN
    INSERT INTO api_keys (company_id, name, key_hash, key_prefix, key_last4)
    VALUES ((SELECT id FROM companies LIMIT 1), 'bad', '\x00', 'atr_live_', 'abcd');
    IF (SELECT count(*) FROM companies) > 0 THEN
      RAISE EXCEPTION 'a short key hash was accepted';
    END IF;
  EXCEPTION WHEN check_violation OR not_null_violation THEN
    NULL;
  END;
END $$;

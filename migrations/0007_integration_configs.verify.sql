DO $$
DECLARE c UUID; ok BOOLEAN;
BEGIN
  IF to_regclass('public.integration_configs') IS NULL OR to_regclass('public.integration_delivery_log') IS NULL THEN
    RAISE EXCEPTION 'integration tables missing';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = 'integration_configs'::regclass
                 AND conname LIKE '%platform%') THEN
    RAISE EXCEPTION 'platform constraint missing';
  END IF;
  INSERT INTO companies (name) VALUES ('verify integrations') RETURNING id INTO c;
  INSERT INTO integration_configs (company_id, platform, enabled) VALUES (c, 'benevity', true);
  -- Our own: an unknown platform and a second config for the same platform are refused.
  ok := false;
  BEGIN
    INSERT INTO integration_configs (company_id, platform) VALUES (c, 'salesforce');
  EXCEPTION WHEN check_violation THEN ok := true;
  END;
  IF NOT ok THEN RAISE EXCEPTION 'an unknown platform was accepted'; END IF;
  ok := false;
  BEGIN
    INSERT INTO integration_configs (company_id, platform) VALUES (c, 'benevity');
  EXCEPTION WHEN unique_violation THEN ok := true;
  END;
  IF NOT ok THEN RAISE EXCEPTION 'two configs for one platform were accepted'; END IF;
  -- Credentials always carry their key version.
  ok := false;
  BEGIN
    UPDATE integration_configs SET credentials_encrypted = '\x01' WHERE company_id = c;
  EXCEPTION WHEN check_violation THEN ok := true;
  END;
  IF NOT ok THEN RAISE EXCEPTION 'credentials without a key version were accepted'; END IF;
END $$;

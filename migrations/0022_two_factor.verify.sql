DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'totp_secret_sealed') THEN
    RAISE EXCEPTION 'users.totp_secret_sealed is missing';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM permissions WHERE name = 'security.manage') THEN
    RAISE EXCEPTION 'the security.manage permission is missing';
  END IF;
END $$;

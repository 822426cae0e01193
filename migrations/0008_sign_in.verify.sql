DO $$
BEGIN
  IF to_regclass('public.login_failures') IS NULL THEN
    RAISE EXCEPTION 'login_failures missing';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'status') THEN
    RAISE EXCEPTION 'users.status missing';
  END IF;
END $$;

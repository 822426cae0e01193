DO $$
BEGIN
  IF to_regclass('mail_outbox') IS NULL THEN
    RAISE EXCEPTION 'mail_outbox is missing';
  END IF;
  IF NOT (SELECT relforcerowsecurity FROM pg_class WHERE oid = 'mail_outbox'::regclass) THEN
    RAISE EXCEPTION 'mail_outbox must FORCE row-level security';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'notify_new_sign_in') THEN
    RAISE EXCEPTION 'users.notify_new_sign_in is missing';
  END IF;
END $$;

DO $$
BEGIN
  IF to_regclass('integration_delivery_attempts') IS NULL THEN
    RAISE EXCEPTION 'integration_delivery_attempts is missing';
  END IF;
  IF NOT (SELECT relforcerowsecurity FROM pg_class WHERE oid = 'integration_delivery_attempts'::regclass) THEN
    RAISE EXCEPTION 'integration_delivery_attempts does not force row-level security';
  END IF;
  IF has_table_privilege('atrium_app', 'integration_delivery_attempts', 'UPDATE') THEN
    RAISE EXCEPTION 'atrium_app must not rewrite delivery attempts';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM information_schema.columns
                  WHERE table_name = 'integration_delivery_log' AND column_name = 'lease_token') THEN
    RAISE EXCEPTION 'integration_delivery_log.lease_token is missing';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM information_schema.columns
                  WHERE table_name = 'weight_override_history' AND column_name = 'changed_by_email') THEN
    RAISE EXCEPTION 'weight_override_history.changed_by_email is missing';
  END IF;
END $$;

-- From the seed: the table and the retention function exist, and a row can be written.
DO $$
DECLARE n BIGINT;
BEGIN
  IF to_regclass('public.audit_log') IS NULL THEN
    RAISE EXCEPTION 'audit_log missing';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_proc WHERE proname = 'cleanup_old_audit_logs') THEN
    RAISE EXCEPTION 'cleanup_old_audit_logs missing';
  END IF;
  INSERT INTO audit_log (company_id, user_email, action, resource, severity)
  VALUES (NULL, 'test@example.com', 'verify.test_action', 'verify', 'info');
  SELECT count(*) INTO n FROM audit_log WHERE action = 'verify.test_action';
  IF n <> 1 THEN
    RAISE EXCEPTION 'audit insert not visible';
  END IF;
END $$;

-- Our own: UPDATE and DELETE are refused; deleting a company keeps its trail possible
-- (no cascading foreign key); the table is partitioned by month.
DO $$
BEGIN
  BEGIN
    UPDATE audit_log SET severity = 'error' WHERE action = 'verify.test_action';
    RAISE EXCEPTION 'verify: UPDATE on audit_log was allowed';
  EXCEPTION WHEN insufficient_privilege THEN NULL;
  END;
  BEGIN
    DELETE FROM audit_log WHERE action = 'verify.test_action';
    RAISE EXCEPTION 'verify: DELETE on audit_log was allowed';
  EXCEPTION WHEN insufficient_privilege THEN NULL;
  END;
  IF EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = 'audit_log'::regclass AND contype = 'f') THEN
    RAISE EXCEPTION 'audit_log has a foreign key that could cascade';
  END IF;
  IF (SELECT relkind FROM pg_class WHERE oid = 'audit_log'::regclass) <> 'p' THEN
    RAISE EXCEPTION 'audit_log is not partitioned';
  END IF;
  IF (SELECT count(*) FROM pg_constraint WHERE conrelid = 'audit_log'::regclass AND contype = 'c'
      AND pg_get_constraintdef(oid) ILIKE '%severity%') > 1 THEN
    RAISE EXCEPTION 'severity is checked more than once';
  END IF;
END $$;

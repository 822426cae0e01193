DO $$
BEGIN
  IF to_regprocedure('atrium_audit_prune(timestamptz, integer, integer)') IS NULL THEN
    RAISE EXCEPTION 'atrium_audit_prune with a retention floor is missing';
  END IF;
  IF has_function_privilege('atrium_app', 'atrium_audit_prune(timestamptz, integer, integer)', 'EXECUTE') THEN
    RAISE EXCEPTION 'atrium_app must not run the audit prune';
  END IF;
END $$;

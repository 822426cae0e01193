DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'audit_log_chain' AND tgrelid = 'audit_log'::regclass) THEN
    RAISE EXCEPTION 'audit_log is not chained: trigger audit_log_chain is missing';
  END IF;
  IF EXISTS (SELECT 1 FROM audit_log WHERE hash IS NULL) THEN
    RAISE EXCEPTION 'audit_log has unchained rows';
  END IF;
  IF has_table_privilege('atrium_app', 'audit_log', 'UPDATE') OR has_table_privilege('atrium_app', 'audit_log', 'DELETE') THEN
    RAISE EXCEPTION 'atrium_app must not update or delete audit rows';
  END IF;
  IF has_table_privilege('atrium_app', 'audit_chain_heads', 'UPDATE') THEN
    RAISE EXCEPTION 'atrium_app must not move a chain head';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM information_schema.columns
                  WHERE table_name = 'companies' AND column_name = 'audit_legal_hold') THEN
    RAISE EXCEPTION 'companies.audit_legal_hold is missing';
  END IF;
  IF to_regprocedure('atrium_audit_prune(timestamptz)') IS NULL THEN
    RAISE EXCEPTION 'atrium_audit_prune is missing';
  END IF;
END $$;

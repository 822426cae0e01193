CREATE OR REPLACE FUNCTION cleanup_old_audit_logs(retention_days INTEGER DEFAULT 90)
RETURNS BIGINT LANGUAGE sql AS $$
  SELECT coalesce(sum(p.removed), 0)::bigint FROM atrium_audit_prune(now()) p
$$;
DROP FUNCTION IF EXISTS atrium_audit_prune(TIMESTAMPTZ, INTEGER, INTEGER);

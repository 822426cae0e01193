DROP TABLE IF EXISTS maintenance_runs;
DROP FUNCTION IF EXISTS atrium_usage_prune(INTEGER, TIMESTAMPTZ);
DROP FUNCTION IF EXISTS atrium_audit_prune(TIMESTAMPTZ);
DROP FUNCTION IF EXISTS atrium_monthly_partitions(REGCLASS);
DROP FUNCTION IF EXISTS atrium_ensure_partitions_between(REGCLASS, DATE, DATE);
DELETE FROM role_permissions WHERE permission_id IN (SELECT id FROM permissions WHERE name = 'audit.retention');
DELETE FROM permissions WHERE name = 'audit.retention';
ALTER TABLE companies DROP CONSTRAINT IF EXISTS companies_audit_retention_days_check;
ALTER TABLE companies DROP COLUMN IF EXISTS audit_legal_hold_reason;
ALTER TABLE companies DROP COLUMN IF EXISTS audit_legal_hold;
ALTER TABLE companies DROP COLUMN IF EXISTS audit_retention_days;
DROP TRIGGER IF EXISTS audit_log_chain ON audit_log;
DROP FUNCTION IF EXISTS atrium_audit_chain();
DROP INDEX IF EXISTS idx_audit_log_chain;
DROP INDEX IF EXISTS idx_audit_log_company_action_ts;
DROP INDEX IF EXISTS idx_audit_log_company_resource;
CREATE INDEX IF NOT EXISTS idx_audit_log_company_action ON audit_log (company_id, action, "timestamp" DESC);
CREATE INDEX IF NOT EXISTS idx_audit_log_resource ON audit_log (resource, resource_id);
ALTER TABLE audit_log DROP COLUMN IF EXISTS hash;
ALTER TABLE audit_log DROP COLUMN IF EXISTS prev_hash;
ALTER TABLE audit_log DROP COLUMN IF EXISTS chain_seq;
DROP FUNCTION IF EXISTS atrium_audit_row_hash(audit_log);
DROP TABLE IF EXISTS audit_chain_heads;
DROP FUNCTION IF EXISTS atrium_audit_chain_id(UUID);

-- The single-setting retention function of migration 0005.
CREATE OR REPLACE FUNCTION cleanup_old_audit_logs(retention_days INTEGER DEFAULT 90)
RETURNS BIGINT LANGUAGE plpgsql AS $$
DECLARE
  cutoff TIMESTAMPTZ := now() - make_interval(days => retention_days);
  removed BIGINT := 0;
  n BIGINT;
  part RECORD;
BEGIN
  IF retention_days < 1 THEN
    RAISE EXCEPTION 'retention_days must be positive, got %', retention_days;
  END IF;
  PERFORM set_config('atrium.audit_retention', 'on', true);
  FOR part IN
    SELECT c.oid::regclass AS rel,
           (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''([^'']+)''\)'))[1]::timestamptz AS upper_bound
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'audit_log'::regclass AND pg_get_expr(c.relpartbound, c.oid) <> 'DEFAULT'
  LOOP
    IF part.upper_bound <= cutoff THEN
      EXECUTE format('SELECT count(*) FROM %s', part.rel) INTO n;
      EXECUTE format('DROP TABLE %s', part.rel);
      removed := removed + n;
    END IF;
  END LOOP;
  DELETE FROM audit_log WHERE "timestamp" < cutoff;
  GET DIAGNOSTICS n = ROW_COUNT;
  PERFORM set_config('atrium.audit_retention', 'off', true);
  RETURN removed + n;
END
$$;

-- Seed 002, Migration 004: the audit log.
-- Fixes (defect 6): company_id is nullable (platform events have no company) and has no
-- ON DELETE CASCADE, so deleting a company never erases its trail; severity is checked once;
-- the table is partitioned by month so retention drops partitions instead of bloating the
-- table with DELETEs; retention runs from the server, as pg_cron is not assumed; rows are
-- append-only, enforced by trigger. Adds the actor's session, the request id and the
-- before/after details.

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_type WHERE typname = 'audit_severity') THEN
    CREATE TYPE audit_severity AS ENUM ('info', 'warning', 'error');
  END IF;
END $$;

CREATE TABLE IF NOT EXISTS audit_log (
  id BIGINT GENERATED ALWAYS AS IDENTITY,
  "timestamp" TIMESTAMPTZ NOT NULL DEFAULT now(),
  company_id UUID,
  user_id UUID,
  user_email VARCHAR(320),
  user_role user_role_enum,
  action VARCHAR(100) NOT NULL CHECK (action ~ '^[a-z_]+\.[a-z_.]+$'),
  resource VARCHAR(100) NOT NULL,
  resource_id VARCHAR(255),
  severity audit_severity NOT NULL DEFAULT 'info',
  details JSONB NOT NULL DEFAULT '{}'::jsonb,
  ip_address INET,
  user_agent TEXT,
  session_id VARCHAR(255),
  request_id VARCHAR(64),
  PRIMARY KEY (id, "timestamp")
) PARTITION BY RANGE ("timestamp");

CREATE INDEX IF NOT EXISTS idx_audit_log_company_ts ON audit_log (company_id, "timestamp" DESC, id DESC);
CREATE INDEX IF NOT EXISTS idx_audit_log_ts ON audit_log ("timestamp" DESC, id DESC);
CREATE INDEX IF NOT EXISTS idx_audit_log_user_id ON audit_log (user_id);
CREATE INDEX IF NOT EXISTS idx_audit_log_company_action ON audit_log (company_id, action, "timestamp" DESC);
CREATE INDEX IF NOT EXISTS idx_audit_log_resource ON audit_log (resource, resource_id);
CREATE INDEX IF NOT EXISTS idx_audit_log_severity ON audit_log (severity) WHERE severity <> 'info';

CREATE TABLE IF NOT EXISTS audit_log_default PARTITION OF audit_log DEFAULT;
SELECT atrium_ensure_monthly_partitions('audit_log', 3);

-- Append-only: UPDATE, DELETE and TRUNCATE are refused, except by the retention function,
-- which raises a transaction-local flag.
CREATE OR REPLACE FUNCTION atrium_audit_log_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF current_setting('atrium.audit_retention', true) = 'on' AND TG_OP IN ('DELETE', 'TRUNCATE') THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END
$$;
DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION atrium_audit_log_append_only();
DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log;
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION atrium_audit_log_append_only();

-- Retention: whole monthly partitions older than the cut-off are dropped; rows are deleted
-- only inside the month that straddles it. Returns the number of rows removed.
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

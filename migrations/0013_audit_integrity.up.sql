-- The audit log becomes tamper-evident and keeps each company's own retention.
--
-- Hash chain: every row gets chain_seq (its place in its company's chain; platform events,
-- which have no company, form one more chain), prev_hash and hash = SHA-256 over a canonical
-- encoding of the row that includes prev_hash. A BEFORE INSERT trigger does the chaining
-- under a row lock on the chain's head, held until the writing transaction ends, so two
-- concurrent writers to one company queue instead of forking the chain. The trigger runs as
-- the schema owner, so the app's role needs no access to the heads beyond reading its own.
--
-- Retention: each company keeps its rows 30 days to 7 years (90 by default) unless a legal
-- hold is on. atrium_audit_prune() removes whole chain prefixes, dropping monthly
-- partitions where every row in them has expired and deleting rows elsewhere, and records
-- how far each chain was pruned so verify can tell pruning from deletion.

-- The nil UUID names the platform chain (rows with no company).
CREATE OR REPLACE FUNCTION atrium_audit_chain_id(company UUID) RETURNS UUID
LANGUAGE sql IMMUTABLE AS $$ SELECT coalesce(company, '00000000-0000-0000-0000-000000000000'::uuid) $$;

ALTER TABLE audit_log ADD COLUMN IF NOT EXISTS chain_seq BIGINT;
ALTER TABLE audit_log ADD COLUMN IF NOT EXISTS prev_hash BYTEA;
ALTER TABLE audit_log ADD COLUMN IF NOT EXISTS hash BYTEA;

CREATE TABLE IF NOT EXISTS audit_chain_heads (
  chain_id UUID PRIMARY KEY,
  last_seq BIGINT NOT NULL DEFAULT 0,
  last_hash BYTEA,
  -- Rows with chain_seq <= pruned_through_seq were removed by retention; the first
  -- surviving row's prev_hash is taken as given.
  pruned_through_seq BIGINT NOT NULL DEFAULT 0,
  pruned_at TIMESTAMPTZ
);

-- The canonical encoding: a JSON array of every column in a fixed order, the time in UTC
-- with microseconds, the previous hash in hex. jsonb's text form is deterministic (object
-- keys sorted, numbers normalised), so the same row always encodes to the same bytes.
CREATE OR REPLACE FUNCTION atrium_audit_row_hash(a audit_log) RETURNS BYTEA
LANGUAGE sql IMMUTABLE AS $$
  SELECT sha256(convert_to(jsonb_build_array(
    a.chain_seq, a.id, to_char(a."timestamp" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    a.company_id, a.user_id, a.user_email, a.user_role, a.action, a.resource, a.resource_id,
    a.severity, a.details, host(a.ip_address), a.user_agent, a.session_id, a.request_id,
    encode(a.prev_hash, 'hex'))::text, 'UTF8'))
$$;

CREATE OR REPLACE FUNCTION atrium_audit_chain() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  chain UUID := atrium_audit_chain_id(NEW.company_id);
  head RECORD;
BEGIN
  SELECT last_seq, last_hash INTO head FROM audit_chain_heads WHERE chain_id = chain FOR UPDATE;
  IF NOT FOUND THEN
    INSERT INTO audit_chain_heads (chain_id) VALUES (chain) ON CONFLICT DO NOTHING;
    SELECT last_seq, last_hash INTO head FROM audit_chain_heads WHERE chain_id = chain FOR UPDATE;
  END IF;
  NEW.chain_seq := head.last_seq + 1;
  NEW.prev_hash := head.last_hash;
  NEW.hash := atrium_audit_row_hash(NEW);
  UPDATE audit_chain_heads SET last_seq = NEW.chain_seq, last_hash = NEW.hash WHERE chain_id = chain;
  RETURN NEW;
END
$$;

-- Chain the rows written before this migration, oldest first, with the append-only
-- trigger briefly off (only the table's owner can do that).
ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only;
DO $$
DECLARE
  r audit_log;
  head RECORD;
BEGIN
  FOR r IN SELECT * FROM audit_log WHERE hash IS NULL ORDER BY "timestamp", id LOOP
    INSERT INTO audit_chain_heads (chain_id) VALUES (atrium_audit_chain_id(r.company_id)) ON CONFLICT DO NOTHING;
    SELECT last_seq, last_hash INTO head FROM audit_chain_heads WHERE chain_id = atrium_audit_chain_id(r.company_id);
    r.chain_seq := head.last_seq + 1;
    r.prev_hash := head.last_hash;
    r.hash := atrium_audit_row_hash(r);
    UPDATE audit_log SET chain_seq = r.chain_seq, prev_hash = r.prev_hash, hash = r.hash
     WHERE id = r.id AND "timestamp" = r."timestamp";
    UPDATE audit_chain_heads SET last_seq = r.chain_seq, last_hash = r.hash
     WHERE chain_id = atrium_audit_chain_id(r.company_id);
  END LOOP;
END $$;
ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only;

ALTER TABLE audit_log ALTER COLUMN chain_seq SET NOT NULL;
ALTER TABLE audit_log ALTER COLUMN hash SET NOT NULL;

DROP TRIGGER IF EXISTS audit_log_chain ON audit_log;
CREATE TRIGGER audit_log_chain BEFORE INSERT ON audit_log
  FOR EACH ROW EXECUTE FUNCTION atrium_audit_chain();

-- Verify walks a chain in order; the viewer's keyset order within an action needs the id.
CREATE INDEX IF NOT EXISTS idx_audit_log_chain ON audit_log (company_id, chain_seq);
DROP INDEX IF EXISTS idx_audit_log_company_action;
CREATE INDEX IF NOT EXISTS idx_audit_log_company_action_ts ON audit_log (company_id, action, "timestamp" DESC, id DESC);
CREATE INDEX IF NOT EXISTS idx_audit_log_company_resource ON audit_log (company_id, resource, resource_id, "timestamp" DESC, id DESC);
DROP INDEX IF EXISTS idx_audit_log_resource;

-- Heads are readable like the rows they summarise; only the trigger and retention write.
ALTER TABLE audit_chain_heads ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_chain_heads FORCE ROW LEVEL SECURITY;
GRANT SELECT ON audit_chain_heads TO atrium_app, atrium_platform;
DROP POLICY IF EXISTS tenant_read ON audit_chain_heads;
CREATE POLICY tenant_read ON audit_chain_heads FOR SELECT TO atrium_app USING (chain_id = atrium_company());
DROP POLICY IF EXISTS platform_read ON audit_chain_heads;
CREATE POLICY platform_read ON audit_chain_heads FOR SELECT TO atrium_platform USING (true);
DO $$
BEGIN
  DROP POLICY IF EXISTS owner_all ON audit_chain_heads;
  IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    EXECUTE format('CREATE POLICY owner_all ON audit_chain_heads TO %I USING (true) WITH CHECK (true)', current_user);
  END IF;
END $$;

-- Each company's retention. The seed's 90 days by default; 30 days to 7 years.
ALTER TABLE companies ADD COLUMN IF NOT EXISTS audit_retention_days INTEGER NOT NULL DEFAULT 90;
ALTER TABLE companies DROP CONSTRAINT IF EXISTS companies_audit_retention_days_check;
ALTER TABLE companies ADD CONSTRAINT companies_audit_retention_days_check
  CHECK (audit_retention_days BETWEEN 30 AND 2557);
ALTER TABLE companies ADD COLUMN IF NOT EXISTS audit_legal_hold BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE companies ADD COLUMN IF NOT EXISTS audit_legal_hold_reason TEXT;

INSERT INTO permissions (name, resource, action, description) VALUES
  ('audit.retention', 'audit', 'retention', 'Set the audit log''s retention and legal hold')
ON CONFLICT (name) DO UPDATE SET description = EXCLUDED.description;
INSERT INTO role_permissions (role, permission_id)
SELECT r.role::user_role_enum, p.id FROM (VALUES ('ADMIN'), ('SUPER_ADMIN')) AS r(role)
JOIN permissions p ON p.name = 'audit.retention'
ON CONFLICT DO NOTHING;

-- Partitions for any range of months (the current ones come from
-- atrium_ensure_monthly_partitions; restores and benchmarks need older ones).
CREATE OR REPLACE FUNCTION atrium_ensure_partitions_between(parent REGCLASS, first_month DATE, last_month DATE)
RETURNS INTEGER LANGUAGE plpgsql AS $$
DECLARE
  lo DATE := date_trunc('month', first_month)::date;
  part_name TEXT;
  created INTEGER := 0;
BEGIN
  WHILE lo <= last_month LOOP
    part_name := format('%s_%s', parent::text, to_char(lo, 'YYYY_MM'));
    IF to_regclass(part_name) IS NULL THEN
      EXECUTE format('CREATE TABLE %I PARTITION OF %s FOR VALUES FROM (%L) TO (%L)',
        part_name, parent, lo::timestamp AT TIME ZONE 'UTC',
        (lo + interval '1 month')::timestamp AT TIME ZONE 'UTC');
      created := created + 1;
    END IF;
    lo := (lo + interval '1 month')::date;
  END LOOP;
  RETURN created;
END
$$;

-- The monthly partitions of a table, with their upper bounds.
CREATE OR REPLACE FUNCTION atrium_monthly_partitions(parent REGCLASS)
RETURNS TABLE (rel REGCLASS, upper_bound TIMESTAMPTZ) LANGUAGE sql STABLE AS $$
  SELECT c.oid::regclass,
         (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''([^'']+)''\)'))[1]::timestamptz
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
   WHERE i.inhparent = parent AND pg_get_expr(c.relpartbound, c.oid) <> 'DEFAULT'
$$;

-- Retention. For each chain not under a legal hold, the cut is the first row at or after
-- the company's cut-off time; everything before it in chain order goes, so what survives
-- is always an unbroken end of the chain. Platform events keep the longest retention.
-- A monthly partition whose rows are all before their chain's cut is dropped whole; in the
-- others (and the default partition) only the expired rows are deleted. Drops come last,
-- so the parent's exclusive lock is held only until the caller commits. Returns one row
-- per chain that lost rows. The caller serialises runs (an advisory lock).
CREATE OR REPLACE FUNCTION atrium_audit_prune(at TIMESTAMPTZ DEFAULT now())
RETURNS TABLE (chain_id UUID, removed BIGINT, pruned_through_seq BIGINT)
LANGUAGE plpgsql AS $$
DECLARE
  part RECORD;
  newest_cut TIMESTAMPTZ;
  droppable BOOLEAN;
  to_drop REGCLASS[] := '{}';
  rel REGCLASS;
BEGIN
  PERFORM set_config('atrium.audit_retention', 'on', true);
  CREATE TEMP TABLE IF NOT EXISTS pg_temp.audit_cuts (
    chain_id UUID PRIMARY KEY, cutoff TIMESTAMPTZ NOT NULL, cut_seq BIGINT NOT NULL, removed BIGINT NOT NULL DEFAULT 0
  ) ON COMMIT DROP;
  TRUNCATE pg_temp.audit_cuts;
  INSERT INTO pg_temp.audit_cuts (chain_id, cutoff, cut_seq)
  SELECT h.chain_id, at - make_interval(days => coalesce(co.audit_retention_days, 2557)), coalesce(
           (SELECT a.chain_seq FROM audit_log a
             WHERE a.company_id IS NOT DISTINCT FROM co.id
               AND a."timestamp" >= at - make_interval(days => coalesce(co.audit_retention_days, 2557))
             ORDER BY a."timestamp", a.id LIMIT 1),
           h.last_seq + 1)
    FROM audit_chain_heads h LEFT JOIN companies co ON co.id = h.chain_id
   WHERE NOT coalesce(co.audit_legal_hold, false);
  DELETE FROM pg_temp.audit_cuts k USING audit_chain_heads h
   WHERE h.chain_id = k.chain_id AND k.cut_seq - 1 <= h.pruned_through_seq;
  -- A partition that starts a day after the latest cut-off holds nothing to remove.
  SELECT max(k.cutoff) + interval '1 day' INTO newest_cut FROM pg_temp.audit_cuts k;

  FOR part IN
    SELECT * FROM (
      SELECT c.oid::regclass AS rel,
             (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \(''([^'']+)''\)'))[1]::timestamptz AS lower_bound,
             (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''([^'']+)''\)'))[1]::timestamptz AS upper_bound
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
       WHERE i.inhparent = 'audit_log'::regclass) p
     WHERE newest_cut IS NOT NULL AND (p.lower_bound IS NULL OR p.lower_bound < newest_cut)
  LOOP
    EXECUTE format(
      'WITH gone AS (SELECT atrium_audit_chain_id(a.company_id) AS chain_id, count(*) AS n FROM %s a
                       JOIN pg_temp.audit_cuts k ON k.chain_id = atrium_audit_chain_id(a.company_id)
                      WHERE a.chain_seq < k.cut_seq GROUP BY 1)
       UPDATE pg_temp.audit_cuts k SET removed = k.removed + gone.n FROM gone WHERE gone.chain_id = k.chain_id',
      part.rel);
    droppable := part.upper_bound IS NOT NULL AND part.upper_bound <= at;
    IF droppable THEN
      EXECUTE format(
        'SELECT NOT EXISTS (SELECT 1 FROM %s a LEFT JOIN pg_temp.audit_cuts k ON k.chain_id = atrium_audit_chain_id(a.company_id)
                             WHERE k.cut_seq IS NULL OR a.chain_seq >= k.cut_seq)', part.rel) INTO droppable;
    END IF;
    IF droppable THEN
      to_drop := to_drop || part.rel;
    ELSE
      EXECUTE format('DELETE FROM %s a USING pg_temp.audit_cuts k
                       WHERE k.chain_id = atrium_audit_chain_id(a.company_id) AND a.chain_seq < k.cut_seq', part.rel);
    END IF;
  END LOOP;
  FOREACH rel IN ARRAY to_drop LOOP
    EXECUTE format('DROP TABLE %s', rel);
  END LOOP;

  UPDATE audit_chain_heads h SET pruned_through_seq = k.cut_seq - 1, pruned_at = at
    FROM pg_temp.audit_cuts k WHERE h.chain_id = k.chain_id;
  PERFORM set_config('atrium.audit_retention', 'off', true);
  RETURN QUERY SELECT k.chain_id, k.removed, k.cut_seq - 1 FROM pg_temp.audit_cuts k WHERE k.removed > 0;
END
$$;

-- Migration 0005's single-period function, kept for callers of its name: retention is per
-- company now, so the argument is ignored and the companies' settings apply.
CREATE OR REPLACE FUNCTION cleanup_old_audit_logs(retention_days INTEGER DEFAULT 90)
RETURNS BIGINT LANGUAGE sql AS $$
  SELECT coalesce(sum(p.removed), 0)::bigint FROM atrium_audit_prune(now()) p
$$;

-- When each periodic job last ran, whichever process ran it.
CREATE TABLE IF NOT EXISTS maintenance_runs (
  job TEXT PRIMARY KEY,
  last_run_at TIMESTAMPTZ NOT NULL
);

-- API usage is operational data, kept a fixed number of days: whole partitions are
-- dropped, and rows deleted only in the month that straddles the cut-off.
CREATE OR REPLACE FUNCTION atrium_usage_prune(keep_days INTEGER, at TIMESTAMPTZ DEFAULT now())
RETURNS BIGINT LANGUAGE plpgsql AS $$
DECLARE
  cutoff TIMESTAMPTZ := at - make_interval(days => keep_days);
  part RECORD;
  n BIGINT;
  removed BIGINT := 0;
BEGIN
  FOR part IN SELECT * FROM atrium_monthly_partitions('api_key_usage') p WHERE p.upper_bound <= cutoff LOOP
    EXECUTE format('SELECT count(*) FROM %s', part.rel) INTO n;
    EXECUTE format('DROP TABLE %s', part.rel);
    removed := removed + n;
  END LOOP;
  DELETE FROM api_key_usage WHERE used_at < cutoff;
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN removed + n;
END
$$;

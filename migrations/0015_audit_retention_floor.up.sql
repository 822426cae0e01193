-- Audit retention gets a platform floor. A company's own period applies only above the
-- operator's minimum (ATRIUM_AUDIT_MIN_RETENTION_DAYS), whatever is stored in companies, so
-- neither the console nor SQL as atrium_app can make rows go sooner. The platform chain
-- (platform events, and the copies of what a super-admin did while acting as a company)
-- follows the platform's own period. The floor and period are the caller's arguments: they
-- are the operator's settings, not the tenant's.
--
-- Same algorithm as 0013's atrium_audit_prune(at); only the period per chain differs. The
-- one-argument form stays (0013's verify names it); 0005's cleanup_old_audit_logs now goes
-- through the default floor.
CREATE OR REPLACE FUNCTION atrium_audit_prune(at TIMESTAMPTZ, min_days INTEGER, platform_days INTEGER)
RETURNS TABLE (chain_id UUID, removed BIGINT, pruned_through_seq BIGINT)
LANGUAGE plpgsql AS $$
DECLARE
  part RECORD;
  newest_cut TIMESTAMPTZ;
  droppable BOOLEAN;
  to_drop REGCLASS[] := '{}';
  rel REGCLASS;
BEGIN
  IF min_days IS NULL OR platform_days IS NULL OR min_days < 1 OR platform_days < min_days THEN
    RAISE EXCEPTION 'retention floor % and platform period % are not a policy', min_days, platform_days;
  END IF;
  PERFORM set_config('atrium.audit_retention', 'on', true);
  CREATE TEMP TABLE IF NOT EXISTS pg_temp.audit_cuts (
    chain_id UUID PRIMARY KEY, cutoff TIMESTAMPTZ NOT NULL, cut_seq BIGINT NOT NULL, removed BIGINT NOT NULL DEFAULT 0
  ) ON COMMIT DROP;
  TRUNCATE pg_temp.audit_cuts;
  INSERT INTO pg_temp.audit_cuts (chain_id, cutoff, cut_seq)
  SELECT h.chain_id, at - make_interval(days => keep.days), coalesce(
           (SELECT a.chain_seq FROM audit_log a
             WHERE a.company_id IS NOT DISTINCT FROM co.id
               AND a."timestamp" >= at - make_interval(days => keep.days)
             ORDER BY a."timestamp", a.id LIMIT 1),
           h.last_seq + 1)
    FROM audit_chain_heads h LEFT JOIN companies co ON co.id = h.chain_id
         CROSS JOIN LATERAL (SELECT CASE WHEN co.id IS NULL THEN platform_days
                                         ELSE greatest(co.audit_retention_days, min_days) END AS days) keep
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

CREATE OR REPLACE FUNCTION cleanup_old_audit_logs(retention_days INTEGER DEFAULT 90)
RETURNS BIGINT LANGUAGE sql AS $$
  SELECT coalesce(sum(p.removed), 0)::bigint FROM atrium_audit_prune(now(), 365, 2557) p
$$;

REVOKE EXECUTE ON FUNCTION atrium_audit_prune(TIMESTAMPTZ, INTEGER, INTEGER) FROM PUBLIC;

-- The security overview's "chain last verified" (issue 17). A company's chain is verified by
-- its own check (an audit.verify row of the company) or by the operator's check of every chain
-- (`atrium audit verify`, or the super-admin's: one platform row). Tenants never read platform
-- rows, so this narrow function answers for the caller's company only: when its chain was last
-- verified, and whether it was intact then (no break found on one of its rows, or, for a break
-- with no row, under its name).
CREATE OR REPLACE FUNCTION atrium_chain_last_verified()
RETURNS TABLE (verified_at TIMESTAMPTZ, intact BOOLEAN)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
  SELECT a."timestamp",
         NOT EXISTS (
           SELECT 1 FROM jsonb_array_elements(coalesce(a.details -> 'broken', '[]'::jsonb)) b
            WHERE EXISTS (SELECT 1 FROM audit_log r
                           WHERE r.id = (b ->> 'row_id')::bigint AND r.company_id = atrium_company())
               OR (b ->> 'row_id' IS NULL
                   AND b ->> 'chain' = (SELECT c.name FROM companies c WHERE c.id = atrium_company())))
    FROM audit_log a
   WHERE atrium_company() IS NOT NULL AND a.action = 'audit.verify'
     AND (a.company_id = atrium_company() OR a.company_id IS NULL)
   ORDER BY a."timestamp" DESC
   LIMIT 1
$$;
REVOKE EXECUTE ON FUNCTION atrium_chain_last_verified() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION atrium_chain_last_verified() TO atrium_app;

DO $$
DECLARE bad TEXT;
BEGIN
  IF NOT (SELECT relforcerowsecurity FROM pg_class WHERE oid = 'sessions'::regclass) THEN
    RAISE EXCEPTION 'sessions does not force row-level security';
  END IF;
  IF has_column_privilege('atrium_app', 'users', 'allowed_tenants', 'UPDATE')
     OR has_column_privilege('atrium_app', 'users', 'role', 'UPDATE') THEN
    RAISE EXCEPTION 'atrium_app must not write users.role or users.allowed_tenants';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'users_guard_global_columns') THEN
    RAISE EXCEPTION 'users_guard_global_columns trigger is missing';
  END IF;
  SELECT string_agg(p.oid::regprocedure::text, ', ') INTO bad
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
   WHERE n.nspname = 'public' AND p.prosecdef
     AND (NOT coalesce(p.proconfig @> ARRAY['search_path=pg_catalog, public, pg_temp'], false)
          OR p.proacl IS NULL
          OR EXISTS (SELECT 1 FROM aclexplode(p.proacl) a WHERE a.grantee = 0));
  IF bad IS NOT NULL THEN
    RAISE EXCEPTION 'SECURITY DEFINER functions open to PUBLIC or without a fixed search_path: %', bad;
  END IF;
END $$;

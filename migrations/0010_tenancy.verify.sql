DO $$
DECLARE missing TEXT;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'atrium_app' AND NOT rolsuper AND NOT rolbypassrls) THEN
    RAISE EXCEPTION 'role atrium_app is missing, or is superuser or BYPASSRLS';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'atrium_platform' AND NOT rolsuper AND NOT rolbypassrls) THEN
    RAISE EXCEPTION 'role atrium_platform is missing, or is superuser or BYPASSRLS';
  END IF;
  SELECT string_agg(t, ', ') INTO missing
    FROM unnest(ARRAY['companies', 'users', 'memberships', 'user_tokens', 'api_keys', 'api_key_usage', 'audit_log',
                      'weight_overrides', 'weight_override_history', 'integration_configs',
                      'integration_delivery_log']) AS t
   WHERE NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.relname = t AND c.relnamespace = 'public'::regnamespace
                        AND c.relrowsecurity AND c.relforcerowsecurity)
      OR NOT EXISTS (SELECT 1 FROM pg_policies p WHERE p.tablename = t AND 'atrium_app' = ANY (p.roles));
  IF missing IS NOT NULL THEN
    RAISE EXCEPTION 'tables without forced row-level security for atrium_app: %', missing;
  END IF;
  IF has_table_privilege('atrium_app', 'audit_log', 'UPDATE') OR has_table_privilege('atrium_app', 'audit_log', 'DELETE') THEN
    RAISE EXCEPTION 'atrium_app may change audit_log rows';
  END IF;
  IF EXISTS (SELECT 1 FROM users u WHERE u.company_id IS NOT NULL AND u.role <> 'SUPER_ADMIN'
               AND NOT EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = u.id AND m.company_id = u.company_id)) THEN
    RAISE EXCEPTION 'users without a membership in their home company';
  END IF;
END $$;

-- Undo 0010. The roles atrium_app and atrium_platform are cluster-wide and stay; this
-- database's grants to them are revoked.
DO $$
DECLARE t TEXT; p RECORD;
BEGIN
  FOREACH t IN ARRAY ARRAY['companies', 'users', 'api_keys', 'api_key_usage', 'audit_log', 'weight_overrides',
                           'weight_override_history', 'integration_configs', 'integration_delivery_log'] LOOP
    FOR p IN SELECT policyname FROM pg_policies WHERE schemaname = 'public' AND tablename = t LOOP
      EXECUTE format('DROP POLICY %I ON %I', p.policyname, t);
    END LOOP;
    EXECUTE format('ALTER TABLE %I NO FORCE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I DISABLE ROW LEVEL SECURITY', t);
    EXECUTE format('REVOKE ALL ON %I FROM atrium_app, atrium_platform', t);
  END LOOP;
END $$;
REVOKE ALL ON role_hierarchy, permissions, role_permissions, login_failures, sessions
  FROM atrium_app, atrium_platform;
DO $$
BEGIN
  IF to_regclass('schema_migrations') IS NOT NULL THEN
    REVOKE ALL ON schema_migrations FROM atrium_app;
  END IF;
END $$;
REVOKE ALL ON tower_sessions.session FROM atrium_app;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM atrium_app;
REVOKE USAGE ON SCHEMA tower_sessions FROM atrium_app;
REVOKE USAGE ON SCHEMA public FROM atrium_app, atrium_platform;

ALTER FUNCTION atrium_unique_company_slug(TEXT, UUID) SECURITY INVOKER RESET search_path;
DROP FUNCTION IF EXISTS atrium_my_tenants();
DROP FUNCTION IF EXISTS atrium_token_lookup(BYTEA);
DROP FUNCTION IF EXISTS atrium_company_route(TEXT);
DROP FUNCTION IF EXISTS atrium_user_id_by_email(TEXT);
DROP FUNCTION IF EXISTS atrium_login_lookup(TEXT);
DROP TABLE IF EXISTS user_tokens;
ALTER TABLE sessions DROP COLUMN IF EXISTS acting_company_id, DROP COLUMN IF EXISTS acting_until,
  DROP COLUMN IF EXISTS acting_reason;
DROP TRIGGER IF EXISTS users_home_membership ON users;
DROP FUNCTION IF EXISTS atrium_users_home_membership();
DROP TABLE IF EXISTS memberships;
DROP FUNCTION IF EXISTS atrium_memberships_sync_user();
DROP FUNCTION IF EXISTS atrium_user();
DROP FUNCTION IF EXISTS atrium_company();

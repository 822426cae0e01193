DROP TRIGGER IF EXISTS memberships_guard_acceptance ON memberships;
DROP FUNCTION IF EXISTS atrium_memberships_guard_acceptance();
REVOKE DELETE ON login_failures FROM atrium_app;
DROP INDEX IF EXISTS login_failures_email_ip_idx;
ALTER TABLE login_failures DROP COLUMN IF EXISTS throttled;
-- Back to 0013: definer functions keep their (now fixed) search_path; PUBLIC may run them again.
DO $$
DECLARE f RECORD;
BEGIN
  FOR f IN SELECT p.oid::regprocedure AS sig FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE n.nspname = 'public' AND p.prosecdef
              AND p.proname NOT IN ('atrium_account_owned_by', 'atrium_actor_is_super_admin') LOOP
    EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO PUBLIC', f.sig);
  END LOOP;
END $$;
DROP POLICY IF EXISTS tenant_isolation ON sessions;
DROP POLICY IF EXISTS platform_read ON sessions;
DROP POLICY IF EXISTS owner_all ON sessions;
ALTER TABLE sessions NO FORCE ROW LEVEL SECURITY;
ALTER TABLE sessions DISABLE ROW LEVEL SECURITY;
REVOKE UPDATE (email, name, password_hash, status, last_login_at) ON users FROM atrium_app;
GRANT UPDATE ON users TO atrium_app;
DROP TRIGGER IF EXISTS users_guard_global_columns ON users;
DROP FUNCTION IF EXISTS atrium_users_guard_global_columns();
DROP FUNCTION IF EXISTS atrium_actor_is_super_admin();
DROP FUNCTION IF EXISTS atrium_account_owned_by(UUID, UUID);
DELETE FROM user_tokens WHERE purpose = 'join';
ALTER TABLE user_tokens DROP CONSTRAINT IF EXISTS user_tokens_purpose_check;
ALTER TABLE user_tokens ADD CONSTRAINT user_tokens_purpose_check CHECK (purpose IN ('invite', 'reset'));
ALTER TABLE memberships DROP COLUMN IF EXISTS invited_name;

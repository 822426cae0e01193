-- Atrium's own: the trust boundary between companies, held by the database as well as the app.
-- * An account belongs to its owner. A company admin manages the membership (role, status);
--   the account's global columns (email, name, password, status) may be changed from a
--   company's transaction only while that company is the account's only accepted one.
-- * A pending membership (status INVITED on an account that already exists) grants nothing
--   until the owner accepts it; invitation links for such accounts have purpose 'join' and
--   cannot set a password.
-- * sessions gets row-level security like every tenant table.
-- * Every SECURITY DEFINER function: no EXECUTE for PUBLIC and a fixed search_path.

-- What the inviting company calls a pending member: shown instead of the account's own name
-- (and sign-in history) until they join, so an invitation tells nothing about an account.
ALTER TABLE memberships ADD COLUMN IF NOT EXISTS invited_name VARCHAR(200);

ALTER TABLE user_tokens DROP CONSTRAINT IF EXISTS user_tokens_purpose_check;
ALTER TABLE user_tokens ADD CONSTRAINT user_tokens_purpose_check CHECK (purpose IN ('invite', 'reset', 'join'));

-- Does `p_company` alone hold this account? It must be a member there; no other company may
-- hold an accepted membership (pending invitations elsewhere grant nothing, so they do not
-- count); and an account that never set a password belongs to the company that created it.
CREATE OR REPLACE FUNCTION atrium_account_owned_by(p_user UUID, p_company UUID) RETURNS BOOLEAN
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
  SELECT EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = p_user AND m.company_id = p_company)
     AND NOT EXISTS (SELECT 1 FROM memberships m
                      WHERE m.user_id = p_user AND m.company_id <> p_company AND m.status <> 'INVITED')
     AND EXISTS (SELECT 1 FROM users u
                  WHERE u.id = p_user AND u.role <> 'SUPER_ADMIN'
                    AND (u.status <> 'INVITED' OR u.company_id = p_company))
$$;

-- Is the transaction's actor the super-admin? Only they may change any account's global columns.
CREATE OR REPLACE FUNCTION atrium_actor_is_super_admin() RETURNS BOOLEAN
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
  SELECT coalesce((SELECT u.role = 'SUPER_ADMIN' AND u.status = 'ACTIVE' FROM users u WHERE u.id = atrium_user()), false)
$$;

-- The guard behind the app's own check: a company transaction (atrium_app with a company set)
-- cannot rewrite the global columns of an account another company also holds.
CREATE OR REPLACE FUNCTION atrium_users_guard_global_columns() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
  IF current_user = 'atrium_app' AND atrium_company() IS NOT NULL
     AND (NEW.email, NEW.name, NEW.password_hash, NEW.status)
         IS DISTINCT FROM (OLD.email, OLD.name, OLD.password_hash, OLD.status)
     AND NOT atrium_account_owned_by(OLD.id, atrium_company())
     AND NOT atrium_actor_is_super_admin() THEN
    RAISE EXCEPTION 'account % also belongs to another company; its owner or a super-admin can change it', OLD.id
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END
$$;
DROP TRIGGER IF EXISTS users_guard_global_columns ON users;
CREATE TRIGGER users_guard_global_columns BEFORE UPDATE ON users
  FOR EACH ROW EXECUTE FUNCTION atrium_users_guard_global_columns();

-- Column privileges: the app writes only the columns it has a use for. role, company_id and
-- allowed_tenants follow memberships through the definer triggers of 0010.
REVOKE UPDATE ON users FROM atrium_app;
GRANT UPDATE (email, name, password_hash, status, last_login_at) ON users TO atrium_app;

-- Sessions: a user sees their own; a company transaction also sees the sessions currently
-- working in that company (suspending a member ends those, and only those).
ALTER TABLE sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE sessions FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS tenant_isolation ON sessions;
CREATE POLICY tenant_isolation ON sessions TO atrium_app
  USING (user_id = atrium_user() OR (atrium_company() IS NOT NULL AND tenant_id = atrium_company()))
  WITH CHECK (user_id = atrium_user() OR (atrium_company() IS NOT NULL AND tenant_id = atrium_company()));
DROP POLICY IF EXISTS platform_read ON sessions;
CREATE POLICY platform_read ON sessions FOR SELECT TO atrium_platform USING (true);
DO $$
BEGIN
  DROP POLICY IF EXISTS owner_all ON sessions;
  IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    EXECUTE format('CREATE POLICY owner_all ON sessions TO %I USING (true) WITH CHECK (true)', current_user);
  END IF;
END $$;

-- Every SECURITY DEFINER function in the schema: a fixed search_path, no EXECUTE for PUBLIC,
-- EXECUTE for the request roles (trigger functions need none: triggers fire regardless).
DO $$
DECLARE f RECORD;
BEGIN
  FOR f IN SELECT p.oid::regprocedure AS sig, p.prorettype = 'trigger'::regtype AS is_trigger
             FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE n.nspname = 'public' AND p.prosecdef LOOP
    EXECUTE format('ALTER FUNCTION %s SET search_path = pg_catalog, public, pg_temp', f.sig);
    EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f.sig);
    IF NOT f.is_trigger THEN
      EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO atrium_app, atrium_platform', f.sig);
    END IF;
  END LOOP;
END $$;

-- Sign-in throttling: an attempt is counted before its password is checked (and the count
-- taken back when it succeeds), so parallel guesses cannot all reach argon2. Throttled
-- attempts are kept apart, for the audit log's per-window summary.
ALTER TABLE login_failures ADD COLUMN IF NOT EXISTS throttled BOOLEAN NOT NULL DEFAULT false;
CREATE INDEX IF NOT EXISTS login_failures_email_ip_idx ON login_failures (lower(email), ip_address, failed_at DESC);
GRANT DELETE ON login_failures TO atrium_app;

-- Memberships an earlier version granted at once to accounts that already existed elsewhere
-- (an invitation into a company other than the account's home) were never accepted by their
-- owners: they go back to waiting for an answer.
UPDATE memberships m SET status = 'INVITED'
  FROM users u
 WHERE u.id = m.user_id AND m.invited_by IS NOT NULL AND m.company_id <> u.company_id
   AND m.status = 'ACTIVE' AND u.status <> 'INVITED';

-- Only the account itself accepts a pending membership, and a company transaction cannot
-- create one already accepted: the guard behind the app's join-link check.
CREATE OR REPLACE FUNCTION atrium_memberships_guard_acceptance() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
  IF current_user = 'atrium_app' AND NEW.status <> 'INVITED'
     AND (TG_OP = 'INSERT' OR OLD.status = 'INVITED')
     AND NEW.user_id IS DISTINCT FROM atrium_user()
     AND NOT atrium_actor_is_super_admin() THEN
    RAISE EXCEPTION 'only the account itself accepts a membership'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END
$$;
DROP TRIGGER IF EXISTS memberships_guard_acceptance ON memberships;
CREATE TRIGGER memberships_guard_acceptance BEFORE INSERT OR UPDATE OF status ON memberships
  FOR EACH ROW EXECUTE FUNCTION atrium_memberships_guard_acceptance();

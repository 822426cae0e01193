-- Atrium's own: tenancy that holds.
-- * memberships: a role (and a status) per user per company; users.allowed_tenants and, for
--   the home company, users.role follow it, so Phase C readers keep working.
-- * user_tokens: one-time invite and password-reset links, stored as SHA-256 only.
-- * Two database roles, neither superuser nor BYPASSRLS: atrium_app serves requests (the
--   pool does SET ROLE on connect), atrium_platform is the super-admin's explicit, audited,
--   read-only way across companies (SET LOCAL ROLE inside one transaction).
-- * Row-level security, FORCEd, on every tenant table: rows are visible to atrium_app only
--   when their company is the transaction's app.company_id. With no company set, a user sees
--   only their own account and memberships.
-- Roles are cluster-wide, so the down migration leaves them (other databases may use them).

DO $$
BEGIN
  CREATE ROLE atrium_app NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END $$;
DO $$
BEGIN
  CREATE ROLE atrium_platform NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END $$;
-- The login role must be able to SET ROLE to both. A superuser already can.
DO $$
BEGIN
  IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    IF NOT pg_has_role(current_user, 'atrium_app', 'MEMBER') THEN
      EXECUTE format('GRANT atrium_app TO %I', current_user);
    END IF;
    IF NOT pg_has_role(current_user, 'atrium_platform', 'MEMBER') THEN
      EXECUTE format('GRANT atrium_platform TO %I', current_user);
    END IF;
  END IF;
END $$;

-- The transaction's tenant and actor, set by the app with set_config(..., true).
CREATE OR REPLACE FUNCTION atrium_company() RETURNS UUID
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT nullif(current_setting('app.company_id', true), '')::uuid
$$;
CREATE OR REPLACE FUNCTION atrium_user() RETURNS UUID
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT nullif(current_setting('app.user_id', true), '')::uuid
$$;

CREATE TABLE IF NOT EXISTS memberships (
  company_id  UUID NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
  user_id     UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  role        user_role_enum NOT NULL,
  status      user_status NOT NULL DEFAULT 'ACTIVE',
  invited_by  UUID REFERENCES users(id) ON DELETE SET NULL,
  created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (company_id, user_id),
  CONSTRAINT memberships_not_super CHECK (role <> 'SUPER_ADMIN')
);
CREATE INDEX IF NOT EXISTS memberships_user_idx ON memberships (user_id);
CREATE INDEX IF NOT EXISTS memberships_company_role_idx ON memberships (company_id, role, status);
DROP TRIGGER IF EXISTS memberships_set_updated_at ON memberships;
CREATE TRIGGER memberships_set_updated_at BEFORE UPDATE ON memberships
  FOR EACH ROW EXECUTE FUNCTION atrium_set_updated_at();

INSERT INTO memberships (company_id, user_id, role, status)
SELECT company_id, id, role, status FROM users
 WHERE company_id IS NOT NULL AND role <> 'SUPER_ADMIN'
ON CONFLICT DO NOTHING;

-- users -> memberships: a user written with a home company (CLI, seed, Phase C writers) is a
-- member there with their role.
CREATE OR REPLACE FUNCTION atrium_users_home_membership() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
  IF pg_trigger_depth() > 1 OR NEW.company_id IS NULL OR NEW.role = 'SUPER_ADMIN' THEN
    RETURN NEW;
  END IF;
  INSERT INTO memberships (company_id, user_id, role, status)
  VALUES (NEW.company_id, NEW.id, NEW.role, NEW.status)
  ON CONFLICT (company_id, user_id) DO UPDATE SET role = EXCLUDED.role
    WHERE memberships.role IS DISTINCT FROM EXCLUDED.role;
  RETURN NEW;
END
$$;
DROP TRIGGER IF EXISTS users_home_membership ON users;
CREATE TRIGGER users_home_membership AFTER INSERT OR UPDATE OF company_id, role ON users
  FOR EACH ROW EXECUTE FUNCTION atrium_users_home_membership();

-- memberships -> users: allowed_tenants is the set of memberships (plus the home company),
-- and users.role mirrors the home company's role.
CREATE OR REPLACE FUNCTION atrium_memberships_sync_user() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE uid UUID := CASE WHEN TG_OP = 'DELETE' THEN OLD.user_id ELSE NEW.user_id END;
BEGIN
  UPDATE users u SET
    allowed_tenants = ARRAY(SELECT m.company_id FROM memberships m WHERE m.user_id = uid ORDER BY m.created_at, m.company_id),
    role = coalesce((SELECT m.role FROM memberships m WHERE m.user_id = uid AND m.company_id = u.company_id), u.role)
  WHERE u.id = uid AND u.role <> 'SUPER_ADMIN';
  RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS memberships_sync_user ON memberships;
CREATE TRIGGER memberships_sync_user AFTER INSERT OR UPDATE OF role OR DELETE ON memberships
  FOR EACH ROW EXECUTE FUNCTION atrium_memberships_sync_user();

-- A super-admin's time-boxed "act as company": which company, until when, and why.
ALTER TABLE sessions
  ADD COLUMN IF NOT EXISTS acting_company_id UUID REFERENCES companies(id) ON DELETE SET NULL,
  ADD COLUMN IF NOT EXISTS acting_until TIMESTAMPTZ,
  ADD COLUMN IF NOT EXISTS acting_reason TEXT;

-- One-time links. Only the SHA-256 of the token is stored; the link carries the token.
CREATE TABLE IF NOT EXISTS user_tokens (
  id          UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  company_id  UUID NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
  user_id     UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  purpose     VARCHAR(16) NOT NULL CHECK (purpose IN ('invite', 'reset')),
  token_hash  BYTEA NOT NULL UNIQUE CHECK (length(token_hash) = 32),
  created_by  UUID REFERENCES users(id) ON DELETE SET NULL,
  created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
  expires_at  TIMESTAMPTZ NOT NULL,
  used_at     TIMESTAMPTZ
);
CREATE INDEX IF NOT EXISTS user_tokens_user_idx ON user_tokens (user_id, created_at DESC);

-- Lookups that must work before a tenant is known. Each returns the least it can.
CREATE OR REPLACE FUNCTION atrium_login_lookup(p_email TEXT)
RETURNS TABLE (id UUID, password_hash TEXT, role user_role_enum, company_id UUID, status user_status)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT u.id, u.password_hash, u.role, u.company_id, u.status FROM users u WHERE lower(u.email) = lower(p_email)
$$;
CREATE OR REPLACE FUNCTION atrium_user_id_by_email(p_email TEXT) RETURNS UUID
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT u.id FROM users u WHERE lower(u.email) = lower(p_email)
$$;
CREATE OR REPLACE FUNCTION atrium_company_route(p_slug TEXT)
RETURNS TABLE (id UUID, name VARCHAR, slug VARCHAR, tenant_enabled BOOLEAN)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT c.id, c.name, c.slug, c.tenant_enabled FROM companies c WHERE c.slug = p_slug AND c.deleted_at IS NULL
$$;
CREATE OR REPLACE FUNCTION atrium_token_lookup(p_hash BYTEA)
RETURNS TABLE (id UUID, company_id UUID, user_id UUID, purpose VARCHAR, expires_at TIMESTAMPTZ, used_at TIMESTAMPTZ)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT t.id, t.company_id, t.user_id, t.purpose, t.expires_at, t.used_at FROM user_tokens t WHERE t.token_hash = p_hash
$$;
-- The companies a signed-in user belongs to, for the switcher (names only).
CREATE OR REPLACE FUNCTION atrium_my_tenants() RETURNS UUID[]
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT coalesce((SELECT allowed_tenants FROM users WHERE id = atrium_user()), '{}')
$$;
-- Slug de-duplication must see every company, whoever asks.
ALTER FUNCTION atrium_unique_company_slug(TEXT, UUID) SECURITY DEFINER SET search_path = public;

-- Grants: what serving requests needs, nothing more.
GRANT USAGE ON SCHEMA public TO atrium_app, atrium_platform;
GRANT USAGE ON SCHEMA tower_sessions TO atrium_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON tower_sessions.session TO atrium_app;
GRANT SELECT ON role_hierarchy, permissions, role_permissions TO atrium_app, atrium_platform;
-- /readyz compares the applied migrations with the binary's (the table belongs to the runner).
DO $$
BEGIN
  IF to_regclass('schema_migrations') IS NOT NULL THEN
    GRANT SELECT ON schema_migrations TO atrium_app;
  END IF;
END $$;
GRANT SELECT, INSERT ON login_failures TO atrium_app;
GRANT SELECT, INSERT, UPDATE ON sessions TO atrium_app;
GRANT SELECT, INSERT, UPDATE ON companies, users, user_tokens TO atrium_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON memberships TO atrium_app;
GRANT SELECT, INSERT, UPDATE ON api_keys, api_key_usage, integration_delivery_log TO atrium_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON weight_overrides, integration_configs TO atrium_app;
GRANT SELECT, INSERT ON weight_override_history TO atrium_app;
-- The audit log is append-only for the app: no UPDATE, no DELETE.
GRANT SELECT, INSERT ON audit_log TO atrium_app;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO atrium_app;
GRANT SELECT ON companies, users, memberships, sessions, api_keys, api_key_usage, audit_log,
  weight_overrides, weight_override_history, integration_configs, integration_delivery_log
  TO atrium_platform;

-- Row-level security. atrium_app sees one company; atrium_platform reads across companies;
-- the schema owner (migrations, CLI, maintenance) keeps full access even when it is not a
-- superuser, because FORCE applies policies to owners too.
DO $$
DECLARE
  t TEXT;
  owner_is_super BOOLEAN := (SELECT rolsuper FROM pg_roles WHERE rolname = current_user);
BEGIN
  FOREACH t IN ARRAY ARRAY['companies', 'users', 'memberships', 'user_tokens', 'api_keys', 'api_key_usage',
                           'audit_log', 'weight_overrides', 'weight_override_history', 'integration_configs',
                           'integration_delivery_log'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format('DROP POLICY IF EXISTS platform_read ON %I', t);
    IF t NOT IN ('user_tokens') THEN
      EXECUTE format('CREATE POLICY platform_read ON %I FOR SELECT TO atrium_platform USING (true)', t);
    END IF;
    EXECUTE format('DROP POLICY IF EXISTS owner_all ON %I', t);
    IF NOT owner_is_super THEN
      EXECUTE format('CREATE POLICY owner_all ON %I TO %I USING (true) WITH CHECK (true)', t, current_user);
    END IF;
  END LOOP;
END $$;

DROP POLICY IF EXISTS tenant_isolation ON companies;
CREATE POLICY tenant_isolation ON companies TO atrium_app
  USING (id = atrium_company() OR (atrium_company() IS NULL AND id = ANY (atrium_my_tenants())))
  WITH CHECK (id = atrium_company());

DROP POLICY IF EXISTS tenant_isolation ON users;
CREATE POLICY tenant_isolation ON users TO atrium_app
  USING (allowed_tenants @> ARRAY[atrium_company()] OR (atrium_company() IS NULL AND id = atrium_user()))
  WITH CHECK (allowed_tenants @> ARRAY[atrium_company()] OR company_id = atrium_company()
              OR (atrium_company() IS NULL AND id = atrium_user()));

DROP POLICY IF EXISTS tenant_isolation ON memberships;
CREATE POLICY tenant_isolation ON memberships TO atrium_app
  USING (company_id = atrium_company() OR (atrium_company() IS NULL AND user_id = atrium_user()))
  WITH CHECK (company_id = atrium_company());

DROP POLICY IF EXISTS tenant_read ON audit_log;
DROP POLICY IF EXISTS tenant_append ON audit_log;
CREATE POLICY tenant_read ON audit_log FOR SELECT TO atrium_app USING (company_id = atrium_company());
-- Platform events (no company) may be appended from any transaction; tenants never read them.
CREATE POLICY tenant_append ON audit_log FOR INSERT TO atrium_app
  WITH CHECK (company_id = atrium_company() OR company_id IS NULL);

DO $$
DECLARE t TEXT;
BEGIN
  FOREACH t IN ARRAY ARRAY['user_tokens', 'api_keys', 'api_key_usage', 'weight_overrides', 'weight_override_history',
                           'integration_configs', 'integration_delivery_log'] LOOP
    EXECUTE format('DROP POLICY IF EXISTS tenant_isolation ON %I', t);
    EXECUTE format('CREATE POLICY tenant_isolation ON %I TO atrium_app USING (company_id = atrium_company())'
                   ' WITH CHECK (company_id = atrium_company())', t);
  END LOOP;
END $$;

-- Every process may keep the actors it loaded (0016) in memory, keyed by session, as it keeps
-- API keys (0011). These triggers announce on `atrium_actors` whatever could change what an
-- actor load returns, so each process drops its copy within moments:
--   s:<session>  the session was revoked, expired early, or its act-as window changed;
--   u:<user>     the account (email, name, role, status, home) or one of its memberships;
--   *            a company (name, slug, enabled, deleted) or the role grants: everyone.
-- last_seen_at and tenant_id move on ordinary use and are not part of the actor, so they
-- are not announced.
CREATE OR REPLACE FUNCTION atrium_session_actor_changed() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' OR (NEW.user_id, NEW.expires_at, NEW.revoked_at, NEW.acting_company_id, NEW.acting_until, NEW.acting_reason)
       IS DISTINCT FROM (OLD.user_id, OLD.expires_at, OLD.revoked_at, OLD.acting_company_id, OLD.acting_until, OLD.acting_reason) THEN
    PERFORM pg_notify('atrium_actors', 's:' || OLD.id::text);
  END IF;
  RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS sessions_actor_changed ON sessions;
CREATE TRIGGER sessions_actor_changed AFTER UPDATE OR DELETE ON sessions
  FOR EACH ROW EXECUTE FUNCTION atrium_session_actor_changed();

CREATE OR REPLACE FUNCTION atrium_user_actor_changed() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' OR (NEW.email, NEW.name, NEW.role, NEW.status, NEW.company_id, NEW.allowed_tenants)
       IS DISTINCT FROM (OLD.email, OLD.name, OLD.role, OLD.status, OLD.company_id, OLD.allowed_tenants) THEN
    PERFORM pg_notify('atrium_actors', 'u:' || OLD.id::text);
  END IF;
  RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS users_actor_changed ON users;
CREATE TRIGGER users_actor_changed AFTER UPDATE OR DELETE ON users
  FOR EACH ROW EXECUTE FUNCTION atrium_user_actor_changed();

CREATE OR REPLACE FUNCTION atrium_membership_actor_changed() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    PERFORM pg_notify('atrium_actors', 'u:' || OLD.user_id::text);
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    PERFORM pg_notify('atrium_actors', 'u:' || NEW.user_id::text);
  END IF;
  RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS memberships_actor_changed ON memberships;
CREATE TRIGGER memberships_actor_changed AFTER INSERT OR UPDATE OR DELETE ON memberships
  FOR EACH ROW EXECUTE FUNCTION atrium_membership_actor_changed();

CREATE OR REPLACE FUNCTION atrium_company_actor_changed() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' OR (NEW.tenant_enabled, NEW.deleted_at, NEW.slug, NEW.name)
       IS DISTINCT FROM (OLD.tenant_enabled, OLD.deleted_at, OLD.slug, OLD.name) THEN
    PERFORM pg_notify('atrium_actors', '*');
  END IF;
  RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS companies_actor_changed ON companies;
CREATE TRIGGER companies_actor_changed AFTER UPDATE OR DELETE ON companies
  FOR EACH ROW EXECUTE FUNCTION atrium_company_actor_changed();

CREATE OR REPLACE FUNCTION atrium_grants_actor_changed() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('atrium_actors', '*');
  RETURN NULL;
END
$$;
-- Emptying a table wholesale changes every actor.
DROP TRIGGER IF EXISTS sessions_actor_truncated ON sessions;
CREATE TRIGGER sessions_actor_truncated AFTER TRUNCATE ON sessions
  FOR EACH STATEMENT EXECUTE FUNCTION atrium_grants_actor_changed();
DROP TRIGGER IF EXISTS users_actor_truncated ON users;
CREATE TRIGGER users_actor_truncated AFTER TRUNCATE ON users
  FOR EACH STATEMENT EXECUTE FUNCTION atrium_grants_actor_changed();
DROP TRIGGER IF EXISTS memberships_actor_truncated ON memberships;
CREATE TRIGGER memberships_actor_truncated AFTER TRUNCATE ON memberships
  FOR EACH STATEMENT EXECUTE FUNCTION atrium_grants_actor_changed();
DROP TRIGGER IF EXISTS companies_actor_truncated ON companies;
CREATE TRIGGER companies_actor_truncated AFTER TRUNCATE ON companies
  FOR EACH STATEMENT EXECUTE FUNCTION atrium_grants_actor_changed();
DROP TRIGGER IF EXISTS role_permissions_actor_changed ON role_permissions;
CREATE TRIGGER role_permissions_actor_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON role_permissions
  FOR EACH STATEMENT EXECUTE FUNCTION atrium_grants_actor_changed();
DROP TRIGGER IF EXISTS permissions_actor_changed ON permissions;
CREATE TRIGGER permissions_actor_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON permissions
  FOR EACH STATEMENT EXECUTE FUNCTION atrium_grants_actor_changed();

-- The actor load also says when the session ends, so a kept copy is never used past it.
DROP FUNCTION IF EXISTS atrium_request_actor(UUID, UUID);
CREATE FUNCTION atrium_request_actor(p_session UUID, p_user UUID)
RETURNS TABLE (id UUID, email VARCHAR, name VARCHAR, role user_role_enum, company_id UUID, allowed_tenants UUID[],
               acting_company_id UUID, acting_until TIMESTAMPTZ, acting_reason TEXT, memberships JSON, grants JSON,
               session_expires_at TIMESTAMPTZ)
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, public, pg_temp AS $$
#variable_conflict use_column
DECLARE
  was_company TEXT := coalesce(current_setting('app.company_id', true), '');
  was_user TEXT := coalesce(current_setting('app.user_id', true), '');
  was_actor TEXT := coalesce(current_setting('atrium.actor_id', true), '');
BEGIN
  PERFORM set_config('app.company_id', '', true), set_config('app.user_id', p_user::text, true),
          set_config('atrium.actor_id', p_user::text, true);
  RETURN QUERY
  WITH live AS (
    SELECT u.id, u.email, u.name, u.role, u.company_id, u.allowed_tenants,
           s.acting_company_id, s.acting_until, s.acting_reason, s.expires_at
      FROM sessions s JOIN users u ON u.id = s.user_id
     WHERE s.id = p_session AND s.user_id = p_user
       AND s.revoked_at IS NULL AND s.expires_at > now() AND u.status = 'ACTIVE'),
  -- last_seen_at is refreshed at most once a minute, so reading a page is rarely a write.
  touch AS (
    UPDATE sessions SET last_seen_at = now()
     WHERE sessions.id = p_session AND last_seen_at < now() - interval '1 minute' AND EXISTS (SELECT 1 FROM live))
  SELECT live.id, live.email, live.name, live.role, live.company_id, live.allowed_tenants,
         CASE WHEN live.acting_until > now() THEN live.acting_company_id END,
         live.acting_until, live.acting_reason,
         (SELECT coalesce(json_agg(json_build_object('id', c.id, 'name', c.name, 'slug', c.slug,
                                                     'role', m.role, 'enabled', c.tenant_enabled)
                                   ORDER BY lower(c.name), c.id), '[]')
            FROM memberships m JOIN companies c ON c.id = m.company_id
           WHERE m.user_id = live.id AND m.status = 'ACTIVE' AND c.deleted_at IS NULL),
         (SELECT coalesce(json_object_agg(g.role, g.names), '{}')
            FROM (SELECT rp.role, array_agg(p.name ORDER BY p.name) AS names
                    FROM role_permissions rp JOIN permissions p ON p.id = rp.permission_id
                   GROUP BY rp.role) g),
         live.expires_at
    FROM live;
  PERFORM set_config('app.company_id', was_company, true), set_config('app.user_id', was_user, true),
          set_config('atrium.actor_id', was_actor, true);
END
$$;
REVOKE EXECUTE ON FUNCTION atrium_request_actor(UUID, UUID) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION atrium_request_actor(UUID, UUID) TO atrium_app;

DROP TRIGGER IF EXISTS sessions_actor_changed ON sessions;
DROP TRIGGER IF EXISTS users_actor_changed ON users;
DROP TRIGGER IF EXISTS memberships_actor_changed ON memberships;
DROP TRIGGER IF EXISTS companies_actor_changed ON companies;
DROP TRIGGER IF EXISTS role_permissions_actor_changed ON role_permissions;
DROP TRIGGER IF EXISTS permissions_actor_changed ON permissions;
DROP TRIGGER IF EXISTS sessions_actor_truncated ON sessions;
DROP TRIGGER IF EXISTS users_actor_truncated ON users;
DROP TRIGGER IF EXISTS memberships_actor_truncated ON memberships;
DROP TRIGGER IF EXISTS companies_actor_truncated ON companies;
DROP FUNCTION IF EXISTS atrium_session_actor_changed();
DROP FUNCTION IF EXISTS atrium_user_actor_changed();
DROP FUNCTION IF EXISTS atrium_membership_actor_changed();
DROP FUNCTION IF EXISTS atrium_company_actor_changed();
DROP FUNCTION IF EXISTS atrium_grants_actor_changed();
-- 0016's actor load, without the session's end.
DROP FUNCTION IF EXISTS atrium_request_actor(UUID, UUID);
CREATE OR REPLACE FUNCTION atrium_request_actor(p_session UUID, p_user UUID)
RETURNS TABLE (id UUID, email VARCHAR, name VARCHAR, role user_role_enum, company_id UUID, allowed_tenants UUID[],
               acting_company_id UUID, acting_until TIMESTAMPTZ, acting_reason TEXT, memberships JSON, grants JSON)
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
           s.acting_company_id, s.acting_until, s.acting_reason
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
                   GROUP BY rp.role) g)
    FROM live;
  PERFORM set_config('app.company_id', was_company, true), set_config('app.user_id', was_user, true),
          set_config('atrium.actor_id', was_actor, true);
END
$$;
REVOKE EXECUTE ON FUNCTION atrium_request_actor(UUID, UUID) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION atrium_request_actor(UUID, UUID) TO atrium_app;

-- The REST API's company summary in one round trip. As a transaction (BEGIN, the tenant
-- setting, the query, COMMIT) a read took four. Like atrium_request_actor (0016), this
-- function makes the tenant setting itself, local to the statement's own transaction, runs
-- with the caller's rights (atrium_app, so row-level security applies as in any tenant
-- transaction), and puts the caller's settings back when called inside a transaction.
CREATE OR REPLACE FUNCTION atrium_api_company(p_company UUID)
RETURNS TABLE (id UUID, name VARCHAR, slug VARCHAR, tenant_enabled BOOLEAN, created_at TIMESTAMPTZ, active_users BIGINT)
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, public, pg_temp AS $$
#variable_conflict use_column
DECLARE
  was_company TEXT := coalesce(current_setting('app.company_id', true), '');
  was_user TEXT := coalesce(current_setting('app.user_id', true), '');
BEGIN
  PERFORM set_config('app.company_id', p_company::text, true), set_config('app.user_id', '', true);
  RETURN QUERY
  SELECT c.id, c.name, c.slug, c.tenant_enabled, c.created_at,
         (SELECT count(*) FROM memberships m WHERE m.company_id = c.id AND m.status = 'ACTIVE')
    FROM companies c WHERE c.id = p_company;
  PERFORM set_config('app.company_id', was_company, true), set_config('app.user_id', was_user, true);
END
$$;
REVOKE EXECUTE ON FUNCTION atrium_api_company(UUID) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION atrium_api_company(UUID) TO atrium_app;

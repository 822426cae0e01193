DO $$
DECLARE
  t TEXT;
BEGIN
  FOREACH t IN ARRAY ARRAY['sessions_actor_changed', 'users_actor_changed', 'memberships_actor_changed',
                           'companies_actor_changed', 'role_permissions_actor_changed', 'permissions_actor_changed',
                           'sessions_actor_truncated', 'users_actor_truncated', 'memberships_actor_truncated',
                           'companies_actor_truncated'] LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = t AND NOT tgisinternal) THEN
      RAISE EXCEPTION 'trigger % is missing: kept actors would not hear of changes', t;
    END IF;
  END LOOP;
  IF (SELECT prosecdef FROM pg_proc WHERE oid = 'atrium_request_actor(uuid, uuid)'::regprocedure) THEN
    RAISE EXCEPTION 'atrium_request_actor must run with the caller''s rights, under row-level security';
  END IF;
END $$;

DO $$
BEGIN
  IF to_regprocedure('atrium_request_actor(uuid, uuid)') IS NULL THEN
    RAISE EXCEPTION 'atrium_request_actor is missing';
  END IF;
  IF (SELECT prosecdef FROM pg_proc WHERE oid = 'atrium_request_actor(uuid, uuid)'::regprocedure) THEN
    RAISE EXCEPTION 'atrium_request_actor must run with the caller''s rights, under row-level security';
  END IF;
END $$;

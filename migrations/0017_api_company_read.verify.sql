DO $$
BEGIN
  IF to_regprocedure('atrium_api_company(uuid)') IS NULL THEN
    RAISE EXCEPTION 'atrium_api_company is missing';
  END IF;
  IF (SELECT prosecdef FROM pg_proc WHERE oid = 'atrium_api_company(uuid)'::regprocedure) THEN
    RAISE EXCEPTION 'atrium_api_company must run with the caller''s rights, under row-level security';
  END IF;
END $$;

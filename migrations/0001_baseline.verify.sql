DO $$
BEGIN
  IF to_regclass('public.companies') IS NULL OR to_regclass('public.users') IS NULL
     OR to_regclass('public.sessions') IS NULL OR to_regclass('tower_sessions.session') IS NULL THEN
    RAISE EXCEPTION 'baseline tables missing';
  END IF;
END $$;

-- updated_at is maintained by the trigger.
DO $$
DECLARE c UUID; before TIMESTAMPTZ; after TIMESTAMPTZ;
BEGIN
  INSERT INTO companies (name, updated_at) VALUES ('verify baseline', now() - interval '1 day')
    RETURNING id, updated_at INTO c, before;
  UPDATE companies SET name = 'verify baseline 2' WHERE id = c RETURNING updated_at INTO after;
  IF after <= before THEN
    RAISE EXCEPTION 'companies.updated_at is not maintained on UPDATE';
  END IF;
END $$;

-- From the seed: tables and trigger exist, and an override can be written.
DO $$
DECLARE c UUID; w UUID; n INTEGER; r TEXT;
BEGIN
  IF to_regclass('public.weight_overrides') IS NULL OR to_regclass('public.weight_override_history') IS NULL THEN
    RAISE EXCEPTION 'weight tables missing';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = 'weight_overrides'::regclass
                 AND tgname = 'weight_override_history_trigger') THEN
    RAISE EXCEPTION 'weight history trigger missing';
  END IF;
  INSERT INTO companies (name) VALUES ('verify weights') RETURNING id INTO c;
  PERFORM set_config('atrium.change_reason', 'verify: first', true);
  INSERT INTO weight_overrides (company_id, category, weights)
    VALUES (c, 'sroi', '{"volunteer_hour_value": 35.00}') RETURNING id INTO w;
  -- Our own: the first insert, an update, a no-op update and the delete are recorded once each.
  PERFORM set_config('atrium.change_reason', 'verify: second', true);
  UPDATE weight_overrides SET weights = '{"volunteer_hour_value": 40.00}' WHERE id = w;
  UPDATE weight_overrides SET weights = '{"volunteer_hour_value": 40.00}' WHERE id = w;
  DELETE FROM weight_overrides WHERE id = w;
  SELECT count(*) INTO n FROM weight_override_history WHERE weight_override_id = w;
  IF n <> 3 THEN
    RAISE EXCEPTION 'weight history has % rows, expected 3 (insert, update, delete)', n;
  END IF;
  SELECT change_reason INTO r FROM weight_override_history WHERE weight_override_id = w AND operation = 'INSERT';
  IF r IS DISTINCT FROM 'verify: first' THEN
    RAISE EXCEPTION 'change_reason was not recorded';
  END IF;
END $$;

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_name = 'api_keys' AND column_name = 'pepper_id') THEN
    RAISE EXCEPTION 'api_keys.pepper_id is missing';
  END IF;
END $$;

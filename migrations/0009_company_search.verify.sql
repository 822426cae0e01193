DO $$
BEGIN
  IF to_regclass('companies_name_trgm_idx') IS NULL OR to_regclass('companies_slug_trgm_idx') IS NULL THEN
    RAISE EXCEPTION 'company search indexes missing';
  END IF;
END $$;

DO $$
BEGIN
  IF to_regclass('companies_search_trgm_idx') IS NULL THEN
    RAISE EXCEPTION 'company search index missing';
  END IF;
END $$;

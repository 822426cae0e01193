DROP INDEX IF EXISTS companies_search_trgm_idx;
-- The extension goes too, unless something else in the database still uses it.
DO $$
BEGIN
  DROP EXTENSION IF EXISTS pg_trgm;
EXCEPTION WHEN dependent_objects_still_exist THEN
  RAISE NOTICE 'pg_trgm is still used elsewhere; kept';
END $$;

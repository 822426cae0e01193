-- Atrium's own: company search by any part of the name or slug stays fast at 100k rows.
-- One trigram index over the text the search matches; pg_trgm is a trusted extension
-- (PostgreSQL 13+), so the database owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX IF NOT EXISTS companies_search_trgm_idx
  ON companies USING gin (lower(name::text || ' ' || slug::text) gin_trgm_ops);

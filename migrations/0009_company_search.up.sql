-- Atrium's own: company search by any part of the name or slug stays fast at 100k rows.
-- pg_trgm is a trusted extension (PostgreSQL 13+): the database owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX IF NOT EXISTS companies_name_trgm_idx ON companies USING gin (name gin_trgm_ops);
CREATE INDEX IF NOT EXISTS companies_slug_trgm_idx ON companies USING gin (slug gin_trgm_ops);

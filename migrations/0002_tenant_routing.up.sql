-- Seed 002, Migration 001: tenant routing.
-- Fixes: slugs are real slugs (accents folded, punctuation collapsed, de-duplicated as
-- acme, acme-2, ...) and NOT NULL (defect 2); allowed_tenants is filled by UPDATE and a
-- trigger, because a DEFAULT cannot name a column (defect 1); the UNIQUE constraint's own
-- index serves slug lookups, so no second index (defect 9); sessions.tenant_id is a real
-- reference to a company.

CREATE OR REPLACE FUNCTION atrium_slugify(input TEXT) RETURNS TEXT
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT coalesce(nullif(
    left(btrim(regexp_replace(
      lower(translate(
        replace(replace(replace(replace(input, 'ß', 'ss'), 'æ', 'ae'), 'Æ', 'AE'), '&', ' and '),
        'ÀÁÂÃÄÅàáâãäåĀāĂăĄąÇçĆćĈĉĊċČčĎďĐđÈÉÊËèéêëĒēĔĕĖėĘęĚěĜĝĞğĠġĢģĤĥĦħÌÍÎÏìíîïĨĩĪīĬĭĮįİıĴĵĶķĹĺĻļĽľĿŀŁłÑñŃńŅņŇňÒÓÔÕÖØòóôõöøŌōŎŏŐőŔŕŖŗŘřŚśŜŝŞşŠšŢţŤťŦŧÙÚÛÜùúûüŨũŪūŬŭŮůŰűŲųŴŵÝýÿŶŷŸŹźŻżŽž',
        'AAAAAAaaaaaaAaAaAaCcCcCcCcCcDdDdEEEEeeeeEeEeEeEeEeGgGgGgGgHhHhIIIIiiiiIiIiIiIiIiJjKkLlLlLlLlLlNnNnNnNnOOOOOOooooooOoOoOoRrRrRrSsSsSsSsTtTtTtUUUUuuuuUuUuUuUuUuUuWwYyyYyYZzZzZz')),
      '[^a-z0-9]+', '-', 'g'), '-'), 60), ''), 'company')
$$;

-- The first free slug for a name: base, base-2, base-3, ...
CREATE OR REPLACE FUNCTION atrium_unique_company_slug(name TEXT, self_id UUID) RETURNS TEXT
LANGUAGE plpgsql AS $$
DECLARE
  base TEXT := btrim(left(atrium_slugify(name), 56), '-');
  candidate TEXT := base;
  n INTEGER := 1;
BEGIN
  WHILE EXISTS (SELECT 1 FROM companies WHERE slug = candidate AND id IS DISTINCT FROM self_id) LOOP
    n := n + 1;
    candidate := base || '-' || n;
  END LOOP;
  RETURN candidate;
END
$$;

ALTER TABLE companies
  ADD COLUMN IF NOT EXISTS slug VARCHAR(63),
  ADD COLUMN IF NOT EXISTS tenant_enabled BOOLEAN NOT NULL DEFAULT true,
  ADD COLUMN IF NOT EXISTS tenant_config JSONB NOT NULL DEFAULT '{}'::jsonb,
  ADD COLUMN IF NOT EXISTS deleted_at TIMESTAMPTZ;

-- Backfill in creation order so the oldest company keeps the plain slug.
DO $$
DECLARE r RECORD;
BEGIN
  FOR r IN SELECT id, name FROM companies WHERE slug IS NULL ORDER BY created_at, id LOOP
    UPDATE companies SET slug = atrium_unique_company_slug(r.name, r.id) WHERE id = r.id;
  END LOOP;
END $$;

ALTER TABLE companies ALTER COLUMN slug SET NOT NULL;
ALTER TABLE companies DROP CONSTRAINT IF EXISTS companies_slug_key;
ALTER TABLE companies ADD CONSTRAINT companies_slug_key UNIQUE (slug);
ALTER TABLE companies DROP CONSTRAINT IF EXISTS companies_slug_format;
ALTER TABLE companies ADD CONSTRAINT companies_slug_format
  CHECK (slug ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$');
ALTER TABLE companies DROP CONSTRAINT IF EXISTS companies_tenant_config_is_object;
ALTER TABLE companies ADD CONSTRAINT companies_tenant_config_is_object
  CHECK (jsonb_typeof(tenant_config) = 'object');

-- Writers that predate slugs (and the seed's own test inserts) still get a valid one.
CREATE OR REPLACE FUNCTION atrium_companies_default_slug() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.slug IS NULL THEN
    NEW.slug := atrium_unique_company_slug(NEW.name, NEW.id);
  END IF;
  RETURN NEW;
END
$$;
DROP TRIGGER IF EXISTS companies_default_slug ON companies;
CREATE TRIGGER companies_default_slug BEFORE INSERT ON companies
  FOR EACH ROW EXECUTE FUNCTION atrium_companies_default_slug();

-- Keyset pagination of the company list by name and by creation time.
CREATE INDEX IF NOT EXISTS companies_name_id_idx ON companies (lower(name), id);
CREATE INDEX IF NOT EXISTS companies_created_at_id_idx ON companies (created_at, id);

ALTER TABLE users ADD COLUMN IF NOT EXISTS allowed_tenants UUID[] NOT NULL DEFAULT '{}';
UPDATE users SET allowed_tenants = ARRAY[company_id]
  WHERE company_id IS NOT NULL AND NOT (company_id = ANY (allowed_tenants));

-- A user may always enter their home company.
CREATE OR REPLACE FUNCTION atrium_users_home_tenant() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.company_id IS NOT NULL AND NOT (NEW.company_id = ANY (NEW.allowed_tenants)) THEN
    NEW.allowed_tenants := array_append(NEW.allowed_tenants, NEW.company_id);
  END IF;
  RETURN NEW;
END
$$;
DROP TRIGGER IF EXISTS users_home_tenant ON users;
CREATE TRIGGER users_home_tenant BEFORE INSERT OR UPDATE OF company_id, allowed_tenants ON users
  FOR EACH ROW EXECUTE FUNCTION atrium_users_home_tenant();
CREATE INDEX IF NOT EXISTS users_allowed_tenants_idx ON users USING gin (allowed_tenants);

ALTER TABLE sessions
  ADD COLUMN IF NOT EXISTS tenant_id UUID REFERENCES companies(id) ON DELETE SET NULL,
  ADD COLUMN IF NOT EXISTS last_tenant_switch_at TIMESTAMPTZ;
CREATE INDEX IF NOT EXISTS idx_sessions_tenant_id ON sessions (tenant_id);

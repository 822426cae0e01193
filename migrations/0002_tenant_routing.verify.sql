-- From the seed: the columns exist and every company has a slug.
DO $$
BEGIN
  IF (SELECT count(*) FROM information_schema.columns
      WHERE table_schema = 'public' AND table_name = 'companies'
        AND column_name IN ('slug', 'tenant_enabled', 'tenant_config', 'deleted_at')) <> 4 THEN
    RAISE EXCEPTION 'companies is missing tenant routing columns';
  END IF;
  IF EXISTS (SELECT 1 FROM companies WHERE slug IS NULL OR slug !~ '^[a-z0-9]([a-z0-9-]*[a-z0-9])?$') THEN
    RAISE EXCEPTION 'a company has no slug or a slug that is not URL-safe';
  END IF;
  IF EXISTS (SELECT slug FROM companies GROUP BY slug HAVING count(*) > 1) THEN
    RAISE EXCEPTION 'company slugs are not unique';
  END IF;
  IF EXISTS (SELECT 1 FROM users WHERE company_id IS NOT NULL AND NOT (company_id = ANY (allowed_tenants))) THEN
    RAISE EXCEPTION 'a user cannot enter their own company (allowed_tenants)';
  END IF;
END $$;

-- Our own: slugify folds accents and punctuation, and duplicates get a suffix.
DO $$
DECLARE a TEXT; b TEXT;
BEGIN
  IF atrium_slugify('Crème Brûlée & Co., Ltd.') <> 'creme-brulee-and-co-ltd' THEN
    RAISE EXCEPTION 'slugify is wrong: %', atrium_slugify('Crème Brûlée & Co., Ltd.');
  END IF;
  INSERT INTO companies (name) VALUES ('Verify Dup Corp') RETURNING slug INTO a;
  INSERT INTO companies (name) VALUES ('Verify  Dup Corp!') RETURNING slug INTO b;
  IF a <> 'verify-dup-corp' OR b <> 'verify-dup-corp-2' THEN
    RAISE EXCEPTION 'duplicate names did not get distinct slugs: % %', a, b;
  END IF;
END $$;

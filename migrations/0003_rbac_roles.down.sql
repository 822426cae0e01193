DROP TABLE IF EXISTS role_permissions;
DROP TABLE IF EXISTS permissions;
DROP TABLE IF EXISTS role_hierarchy;
ALTER TABLE users DROP CONSTRAINT IF EXISTS users_company_required;
-- Super-admins have no company and no pre-Phase-C role; they cannot survive the downgrade.
DELETE FROM users WHERE company_id IS NULL;
ALTER TABLE users ALTER COLUMN company_id SET NOT NULL;
ALTER TABLE users ALTER COLUMN role DROP DEFAULT;
ALTER TABLE users ALTER COLUMN role TYPE VARCHAR(20) USING lower(role::text);
ALTER TABLE users ALTER COLUMN role SET DEFAULT 'viewer';
DROP FUNCTION IF EXISTS atrium_legacy_role(TEXT);
DROP TYPE IF EXISTS user_role_enum;

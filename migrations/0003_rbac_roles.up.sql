-- Seed 002, Migration 002: the four-role hierarchy.
-- Fixes (defect 3): legacy role strings are mapped while the column is converted, instead of
-- casting first (which fails on 'admin') and updating afterwards (dead code); an unknown
-- legacy role stops the migration with a clear message instead of guessing; permissions and
-- role_permissions are seeded. The super-admin belongs to no company.

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_type WHERE typname = 'user_role_enum') THEN
    CREATE TYPE user_role_enum AS ENUM ('VIEWER', 'MANAGER', 'ADMIN', 'SUPER_ADMIN');
  END IF;
END $$;

CREATE OR REPLACE FUNCTION atrium_legacy_role(raw TEXT) RETURNS user_role_enum
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE upper(replace(replace(btrim(raw), '-', '_'), ' ', '_'))
    WHEN 'VIEWER' THEN 'VIEWER'
    WHEN 'READONLY' THEN 'VIEWER'
    WHEN 'READ_ONLY' THEN 'VIEWER'
    WHEN 'MANAGER' THEN 'MANAGER'
    WHEN 'ADMIN' THEN 'ADMIN'
    WHEN 'SUPER_ADMIN' THEN 'SUPER_ADMIN'
    WHEN 'SUPERADMIN' THEN 'SUPER_ADMIN'
  END::user_role_enum
$$;

DO $$
DECLARE unknown TEXT;
BEGIN
  IF (SELECT data_type FROM information_schema.columns
      WHERE table_schema = 'public' AND table_name = 'users' AND column_name = 'role') <> 'USER-DEFINED' THEN
    SELECT string_agg(DISTINCT quote_literal(role), ', ') INTO unknown
      FROM users WHERE atrium_legacy_role(role) IS NULL;
    IF unknown IS NOT NULL THEN
      RAISE EXCEPTION 'users.role holds values with no Phase C mapping: %', unknown
        USING HINT = 'Map them to viewer, manager, admin or super_admin first.';
    END IF;
    ALTER TABLE users ALTER COLUMN role DROP DEFAULT;
    ALTER TABLE users ALTER COLUMN role TYPE user_role_enum USING atrium_legacy_role(role);
  END IF;
END $$;
ALTER TABLE users ALTER COLUMN role SET DEFAULT 'VIEWER';
ALTER TABLE users ALTER COLUMN role SET NOT NULL;

-- The platform's super-admins stand above companies.
ALTER TABLE users ALTER COLUMN company_id DROP NOT NULL;
ALTER TABLE users DROP CONSTRAINT IF EXISTS users_company_required;
ALTER TABLE users ADD CONSTRAINT users_company_required
  CHECK (company_id IS NOT NULL OR role = 'SUPER_ADMIN');

CREATE TABLE IF NOT EXISTS role_hierarchy (
  role user_role_enum PRIMARY KEY,
  level INTEGER NOT NULL UNIQUE,
  description TEXT NOT NULL
);
INSERT INTO role_hierarchy (role, level, description) VALUES
  ('SUPER_ADMIN', 4, 'Full system access across all companies'),
  ('ADMIN', 3, 'Company administrator with full access to all features'),
  ('MANAGER', 2, 'Can view, export, and generate reports'),
  ('VIEWER', 1, 'Read-only access to dashboard and reports')
ON CONFLICT (role) DO UPDATE SET level = EXCLUDED.level, description = EXCLUDED.description;

CREATE TABLE IF NOT EXISTS permissions (
  id SERIAL PRIMARY KEY,
  name VARCHAR(100) UNIQUE NOT NULL,
  resource VARCHAR(50) NOT NULL,
  action VARCHAR(50) NOT NULL,
  description TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  CONSTRAINT permissions_name_matches CHECK (name = resource || '.' || action)
);

CREATE TABLE IF NOT EXISTS role_permissions (
  role user_role_enum NOT NULL,
  permission_id INTEGER NOT NULL REFERENCES permissions(id) ON DELETE CASCADE,
  PRIMARY KEY (role, permission_id)
);

INSERT INTO permissions (name, resource, action, description) VALUES
  ('companies.read',       'companies',    'read',    'See companies'),
  ('companies.write',      'companies',    'write',   'Create and edit companies'),
  ('companies.delete',     'companies',    'delete',  'Disable and delete companies'),
  ('users.read',           'users',        'read',    'See the company''s users'),
  ('users.write',          'users',        'write',   'Invite and edit users'),
  ('users.suspend',        'users',        'suspend', 'Suspend and reactivate users'),
  ('api_keys.read',        'api_keys',     'read',    'See API keys and their usage'),
  ('api_keys.write',       'api_keys',     'write',   'Issue and roll API keys'),
  ('api_keys.revoke',      'api_keys',     'revoke',  'Revoke API keys'),
  ('weights.read',         'weights',      'read',    'See weight overrides'),
  ('weights.write',        'weights',      'write',   'Change weight overrides'),
  ('integrations.read',    'integrations', 'read',    'See integration configs and deliveries'),
  ('integrations.write',   'integrations', 'write',   'Configure integrations'),
  ('integrations.replay',  'integrations', 'replay',  'Replay deliveries'),
  ('audit.read',           'audit',        'read',    'Read the audit log'),
  ('audit.export',         'audit',        'export',  'Export the audit log')
ON CONFLICT (name) DO UPDATE SET resource = EXCLUDED.resource, action = EXCLUDED.action,
  description = EXCLUDED.description;

-- Grants: VIEWER reads; MANAGER also exports and replays; ADMIN runs the company;
-- SUPER_ADMIN has everything, including the companies themselves.
INSERT INTO role_permissions (role, permission_id)
SELECT g.role::user_role_enum, p.id
FROM (VALUES
  ('VIEWER', 'companies.read'), ('VIEWER', 'users.read'), ('VIEWER', 'api_keys.read'),
  ('VIEWER', 'weights.read'), ('VIEWER', 'integrations.read'),
  ('MANAGER', 'companies.read'), ('MANAGER', 'users.read'), ('MANAGER', 'api_keys.read'),
  ('MANAGER', 'weights.read'), ('MANAGER', 'integrations.read'), ('MANAGER', 'audit.read'),
  ('MANAGER', 'audit.export'), ('MANAGER', 'integrations.replay'),
  ('ADMIN', 'companies.read'), ('ADMIN', 'users.read'), ('ADMIN', 'users.write'),
  ('ADMIN', 'users.suspend'), ('ADMIN', 'api_keys.read'), ('ADMIN', 'api_keys.write'),
  ('ADMIN', 'api_keys.revoke'), ('ADMIN', 'weights.read'), ('ADMIN', 'weights.write'),
  ('ADMIN', 'integrations.read'), ('ADMIN', 'integrations.write'),
  ('ADMIN', 'integrations.replay'), ('ADMIN', 'audit.read'), ('ADMIN', 'audit.export')
) AS g(role, permission)
JOIN permissions p ON p.name = g.permission
ON CONFLICT DO NOTHING;

INSERT INTO role_permissions (role, permission_id)
SELECT 'SUPER_ADMIN', id FROM permissions
ON CONFLICT DO NOTHING;

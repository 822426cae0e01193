-- From the seed: the enum, the hierarchy, no NULL roles.
DO $$
BEGIN
  IF (SELECT array_agg(enumlabel::text ORDER BY enumsortorder) FROM pg_enum
      WHERE enumtypid = 'user_role_enum'::regtype) <> ARRAY['VIEWER','MANAGER','ADMIN','SUPER_ADMIN'] THEN
    RAISE EXCEPTION 'user_role_enum does not hold the four roles in order';
  END IF;
  IF (SELECT array_agg(role::text ORDER BY level) FROM role_hierarchy) <> ARRAY['VIEWER','MANAGER','ADMIN','SUPER_ADMIN']
     OR (SELECT array_agg(level ORDER BY level) FROM role_hierarchy) <> ARRAY[1,2,3,4] THEN
    RAISE EXCEPTION 'role_hierarchy levels are wrong';
  END IF;
  IF EXISTS (SELECT 1 FROM users WHERE role IS NULL) THEN
    RAISE EXCEPTION 'a user has no role';
  END IF;
END $$;

-- Our own: every permission is granted to the super-admin, every role can read something,
-- and grants only grow with the level.
DO $$
BEGIN
  IF (SELECT count(*) FROM permissions) < 16 THEN
    RAISE EXCEPTION 'permissions are not seeded';
  END IF;
  IF EXISTS (SELECT 1 FROM permissions p WHERE NOT EXISTS (
      SELECT 1 FROM role_permissions rp WHERE rp.permission_id = p.id AND rp.role = 'SUPER_ADMIN')) THEN
    RAISE EXCEPTION 'SUPER_ADMIN lacks a permission';
  END IF;
  IF EXISTS (
    SELECT 1 FROM role_permissions lo
    JOIN role_hierarchy lh ON lh.role = lo.role
    JOIN role_hierarchy hh ON hh.level > lh.level
    WHERE NOT EXISTS (SELECT 1 FROM role_permissions hi
                      WHERE hi.role = hh.role AND hi.permission_id = lo.permission_id)) THEN
    RAISE EXCEPTION 'a higher role lacks a grant that a lower role has';
  END IF;
  IF EXISTS (SELECT 1 FROM role_permissions rp JOIN permissions p ON p.id = rp.permission_id
             WHERE rp.role IN ('VIEWER', 'MANAGER', 'ADMIN') AND p.resource = 'companies'
               AND p.action <> 'read') THEN
    RAISE EXCEPTION 'a tenant role may change companies';
  END IF;
END $$;

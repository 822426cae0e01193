DELETE FROM role_permissions WHERE permission_id IN (SELECT id FROM permissions WHERE name = 'security.manage');
DELETE FROM permissions WHERE name = 'security.manage';
CREATE OR REPLACE FUNCTION atrium_users_guard_global_columns() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
  IF current_user = 'atrium_app' AND atrium_company() IS NOT NULL
     AND (NEW.email, NEW.name, NEW.password_hash, NEW.status)
         IS DISTINCT FROM (OLD.email, OLD.name, OLD.password_hash, OLD.status)
     AND NOT atrium_account_owned_by(OLD.id, atrium_company())
     AND NOT atrium_actor_is_super_admin() THEN
    RAISE EXCEPTION 'account % also belongs to another company; its owner or a super-admin can change it', OLD.id
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END
$$;
ALTER TABLE companies DROP COLUMN IF EXISTS require_two_factor;
ALTER TABLE users DROP CONSTRAINT IF EXISTS users_totp_complete;
ALTER TABLE users
  DROP COLUMN IF EXISTS totp_secret_sealed,
  DROP COLUMN IF EXISTS totp_key_version,
  DROP COLUMN IF EXISTS totp_enabled_at,
  DROP COLUMN IF EXISTS totp_last_step,
  DROP COLUMN IF EXISTS totp_recovery_codes,
  DROP COLUMN IF EXISTS totp_codes_pepper_id;

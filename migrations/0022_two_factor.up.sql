-- Two-factor sign-in (issue 17): TOTP (RFC 6238) with one-time recovery codes, and a
-- company's choice to require it of its members.
--
-- The TOTP secret is sealed (AES-GCM under the root secret, bound to the account); the
-- recovery codes are stored as keyed SHA-256 hashes only (high-entropy random codes, like API
-- keys), and a code is spent by removing its hash, so it works once. totp_last_step is the
-- time step of the last code accepted: a code is never accepted twice.
ALTER TABLE users
  ADD COLUMN IF NOT EXISTS totp_secret_sealed BYTEA,
  ADD COLUMN IF NOT EXISTS totp_key_version INT,
  ADD COLUMN IF NOT EXISTS totp_enabled_at TIMESTAMPTZ,
  ADD COLUMN IF NOT EXISTS totp_last_step BIGINT,
  ADD COLUMN IF NOT EXISTS totp_recovery_codes BYTEA[] NOT NULL DEFAULT '{}',
  -- Which root secret's pepper the recovery codes are hashed under (a fingerprint, as
  -- api_keys.pepper_id): `atrium rotate-secret` counts the accounts whose codes still need it.
  ADD COLUMN IF NOT EXISTS totp_codes_pepper_id TEXT;
ALTER TABLE users DROP CONSTRAINT IF EXISTS users_totp_complete;
ALTER TABLE users ADD CONSTRAINT users_totp_complete
  CHECK ((totp_secret_sealed IS NULL) = (totp_key_version IS NULL)
         AND (totp_secret_sealed IS NULL) = (totp_enabled_at IS NULL));
GRANT UPDATE (totp_secret_sealed, totp_key_version, totp_enabled_at, totp_last_step, totp_recovery_codes,
              totp_codes_pepper_id)
  ON users TO atrium_app;

ALTER TABLE companies ADD COLUMN IF NOT EXISTS require_two_factor BOOLEAN NOT NULL DEFAULT false;

-- A company cannot touch the second factor (or the sign-in mails) of an account another
-- company also holds (the app checks it too): the guard of 0014 now covers those columns.
CREATE OR REPLACE FUNCTION atrium_users_guard_global_columns() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
  IF current_user = 'atrium_app' AND atrium_company() IS NOT NULL
     AND (NEW.email, NEW.name, NEW.password_hash, NEW.status, NEW.totp_secret_sealed, NEW.totp_key_version,
          NEW.totp_enabled_at, NEW.totp_last_step, NEW.totp_recovery_codes, NEW.notify_new_sign_in)
         IS DISTINCT FROM (OLD.email, OLD.name, OLD.password_hash, OLD.status, OLD.totp_secret_sealed, OLD.totp_key_version,
          OLD.totp_enabled_at, OLD.totp_last_step, OLD.totp_recovery_codes, OLD.notify_new_sign_in)
     AND NOT atrium_account_owned_by(OLD.id, atrium_company())
     AND NOT atrium_actor_is_super_admin() THEN
    RAISE EXCEPTION 'account % also belongs to another company; its owner or a super-admin can change it', OLD.id
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END
$$;

-- Who may require two-factor sign-in (and, later, configure single sign-on) for a company.
INSERT INTO permissions (name, resource, action, description) VALUES
  ('security.manage', 'security', 'manage', 'Require two-factor sign-in and review the company''s security')
ON CONFLICT (name) DO UPDATE SET description = EXCLUDED.description;
INSERT INTO role_permissions (role, permission_id)
SELECT r.role::user_role_enum, p.id FROM (VALUES ('ADMIN'), ('SUPER_ADMIN')) AS r(role)
JOIN permissions p ON p.name = 'security.manage'
ON CONFLICT DO NOTHING;

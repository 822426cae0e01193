-- Baseline: the schema that Phase C (seed 002) assumes already exists.
-- companies, users and sessions as the pre-Phase-C application had them, plus the
-- session store's table and the helper that keeps updated_at honest (seed defect 9).

CREATE TABLE IF NOT EXISTS companies (
  id          UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  name        VARCHAR(200) NOT NULL CHECK (length(btrim(name)) > 0),
  created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS users (
  id             UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  company_id     UUID NOT NULL REFERENCES companies(id) ON DELETE RESTRICT,
  email          VARCHAR(320) NOT NULL,
  name           VARCHAR(200) NOT NULL DEFAULT '',
  password_hash  TEXT,
  -- pre-Phase-C roles were free text ('admin', 'viewer'); M002 turns them into an enum.
  role           VARCHAR(20) NOT NULL DEFAULT 'viewer',
  created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- One account per email, case-insensitively. The unique index also serves sign-in lookups.
CREATE UNIQUE INDEX IF NOT EXISTS users_email_key ON users (lower(email));
CREATE INDEX IF NOT EXISTS users_company_id_idx ON users (company_id);

-- The application's record of a signed-in browser. The cookie holds the id of a row in
-- tower_sessions.session; this row is what admins see and revoke.
CREATE TABLE IF NOT EXISTS sessions (
  id             UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id        UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
  last_seen_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
  expires_at     TIMESTAMPTZ NOT NULL,
  revoked_at     TIMESTAMPTZ,
  ip_address     INET,
  user_agent     TEXT
);
CREATE INDEX IF NOT EXISTS sessions_user_id_idx ON sessions (user_id);

-- tower-sessions' PostgreSQL store, created here so the schema has one owner.
CREATE SCHEMA IF NOT EXISTS tower_sessions;
CREATE TABLE IF NOT EXISTS tower_sessions.session (
  id           TEXT PRIMARY KEY NOT NULL,
  data         BYTEA NOT NULL,
  expiry_date  TIMESTAMPTZ NOT NULL
);
CREATE INDEX IF NOT EXISTS session_expiry_date_idx ON tower_sessions.session (expiry_date);

CREATE OR REPLACE FUNCTION atrium_set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW.updated_at := now();
  RETURN NEW;
END
$$;

DROP TRIGGER IF EXISTS companies_set_updated_at ON companies;
CREATE TRIGGER companies_set_updated_at BEFORE UPDATE ON companies
  FOR EACH ROW EXECUTE FUNCTION atrium_set_updated_at();
DROP TRIGGER IF EXISTS users_set_updated_at ON users;
CREATE TRIGGER users_set_updated_at BEFORE UPDATE ON users
  FOR EACH ROW EXECUTE FUNCTION atrium_set_updated_at();

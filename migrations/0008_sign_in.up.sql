-- Atrium's own: what sign-in needs beyond Phase C.
-- Failed sign-ins, counted per account and per IP for throttling. Kept apart from the audit
-- log (which records them too) so the throttle check is one small indexed count.
CREATE TABLE IF NOT EXISTS login_failures (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  email VARCHAR(320) NOT NULL,
  ip_address INET,
  failed_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS login_failures_email_idx ON login_failures (lower(email), failed_at DESC);
CREATE INDEX IF NOT EXISTS login_failures_ip_idx ON login_failures (ip_address, failed_at DESC);

-- Account state; the users issue adds the rest of the lifecycle.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_type WHERE typname = 'user_status') THEN
    CREATE TYPE user_status AS ENUM ('ACTIVE', 'INACTIVE', 'INVITED', 'SUSPENDED');
  END IF;
END $$;
ALTER TABLE users ADD COLUMN IF NOT EXISTS status user_status NOT NULL DEFAULT 'ACTIVE';
ALTER TABLE users ADD COLUMN IF NOT EXISTS last_login_at TIMESTAMPTZ;

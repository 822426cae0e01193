-- Email through an outbox (issue 17): a change that sends mail queues it in the same
-- transaction, and a worker sends it later with retries, so no request waits on SMTP and a
-- mail is never sent for a change that rolled back.
--
-- A mail's body can carry a one-time link, so it is sealed (AES-GCM under the root secret,
-- bound to the row's id) and erased once sent or given up; the row keeps who, what and when.
CREATE TABLE IF NOT EXISTS mail_outbox (
  id              UUID PRIMARY KEY,
  -- NULL: a mail about the account itself (password recovery, its sign-in settings), queued in
  -- the account's own transaction; a mail queued while working in a company is that company's.
  company_id      UUID REFERENCES companies(id) ON DELETE CASCADE,
  user_id         UUID REFERENCES users(id) ON DELETE SET NULL,
  kind            VARCHAR(32) NOT NULL CHECK (kind IN ('invitation', 'join', 'password_reset', 'recover',
                                                        'key_expiring', 'new_sign_in', 'security_notice')),
  to_address      TEXT NOT NULL CHECK (length(to_address) BETWEEN 3 AND 320),
  subject         TEXT NOT NULL CHECK (length(subject) BETWEEN 1 AND 300),
  body_sealed     BYTEA,
  key_version     INT,
  -- At most one mail per key (e.g. one expiry notice per key and admin).
  dedupe_key      TEXT UNIQUE,
  status          VARCHAR(16) NOT NULL DEFAULT 'queued'
                    CHECK (status IN ('queued', 'sending', 'retrying', 'sent', 'failed')),
  attempts        INT NOT NULL DEFAULT 0,
  next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  lease_token     UUID,
  last_error      TEXT,
  created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
  sent_at         TIMESTAMPTZ,
  CHECK ((body_sealed IS NULL) = (key_version IS NULL)),
  -- Nothing waits to be sent without its body, and nothing done keeps it.
  CHECK ((status IN ('sent', 'failed')) = (body_sealed IS NULL))
);
CREATE INDEX IF NOT EXISTS mail_outbox_due_idx ON mail_outbox (next_attempt_at)
  WHERE status IN ('queued', 'retrying', 'sending');
CREATE INDEX IF NOT EXISTS mail_outbox_company_idx ON mail_outbox (company_id, created_at DESC);
-- Recovery requests are throttled per address by counting what was queued for it.
CREATE INDEX IF NOT EXISTS mail_outbox_to_idx ON mail_outbox (lower(to_address), created_at DESC);

-- The app queues mail and reads its own company's; the worker and housekeeping are the owner.
GRANT SELECT, INSERT ON mail_outbox TO atrium_app;
GRANT SELECT ON mail_outbox TO atrium_platform;
ALTER TABLE mail_outbox ENABLE ROW LEVEL SECURITY;
ALTER TABLE mail_outbox FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS tenant_read ON mail_outbox;
-- A company reads its own mail; an account its own account mail (ON CONFLICT needs a queued
-- row to be readable by whoever queued it).
CREATE POLICY tenant_read ON mail_outbox FOR SELECT TO atrium_app
  USING (company_id = atrium_company()
         OR (company_id IS NULL AND atrium_company() IS NULL AND user_id = atrium_user()));
-- An account's own mail (no company) is queued from that account's transaction.
DROP POLICY IF EXISTS tenant_queue ON mail_outbox;
CREATE POLICY tenant_queue ON mail_outbox FOR INSERT TO atrium_app
  WITH CHECK (company_id = atrium_company()
              OR (company_id IS NULL AND atrium_company() IS NULL AND user_id = atrium_user()));
DROP POLICY IF EXISTS platform_read ON mail_outbox;
CREATE POLICY platform_read ON mail_outbox FOR SELECT TO atrium_platform USING (true);
DO $$
BEGIN
  DROP POLICY IF EXISTS owner_all ON mail_outbox;
  IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    EXECUTE format('CREATE POLICY owner_all ON mail_outbox TO %I USING (true) WITH CHECK (true)', current_user);
  END IF;
END $$;

-- "Forgot your password?": a recovery link belongs to the account, not to a company, so it
-- has none; it is made and spent in the account's own transaction.
ALTER TABLE user_tokens ALTER COLUMN company_id DROP NOT NULL;
ALTER TABLE user_tokens DROP CONSTRAINT IF EXISTS user_tokens_purpose_check;
ALTER TABLE user_tokens ADD CONSTRAINT user_tokens_purpose_check
  CHECK (purpose IN ('invite', 'reset', 'join', 'recover'));
ALTER TABLE user_tokens DROP CONSTRAINT IF EXISTS user_tokens_company_check;
ALTER TABLE user_tokens ADD CONSTRAINT user_tokens_company_check
  CHECK ((purpose = 'recover') = (company_id IS NULL));
DROP POLICY IF EXISTS tenant_isolation ON user_tokens;
CREATE POLICY tenant_isolation ON user_tokens TO atrium_app
  USING (company_id = atrium_company()
         OR (company_id IS NULL AND atrium_company() IS NULL AND user_id = atrium_user()))
  WITH CHECK (company_id = atrium_company()
              OR (company_id IS NULL AND atrium_company() IS NULL AND user_id = atrium_user()));

-- Recovery requests, throttled per address and per client like sign-in (not tenant data:
-- no company is known yet). Housekeeping prunes them after a day.
CREATE TABLE IF NOT EXISTS recovery_requests (
  id           BIGSERIAL PRIMARY KEY,
  email        TEXT NOT NULL,
  ip_address   INET,
  requested_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS recovery_requests_email_idx ON recovery_requests (lower(email), requested_at DESC);
CREATE INDEX IF NOT EXISTS recovery_requests_ip_idx ON recovery_requests (ip_address, requested_at DESC);
GRANT SELECT, INSERT ON recovery_requests TO atrium_app;
GRANT USAGE ON SEQUENCE recovery_requests_id_seq TO atrium_app;

-- A mail when the account signs in from a browser it has not used before (the owner may
-- turn it off); one notice per key about to expire.
ALTER TABLE users ADD COLUMN IF NOT EXISTS notify_new_sign_in BOOLEAN NOT NULL DEFAULT true;
GRANT UPDATE (notify_new_sign_in) ON users TO atrium_app;
ALTER TABLE api_keys ADD COLUMN IF NOT EXISTS expiry_notice_at TIMESTAMPTZ;

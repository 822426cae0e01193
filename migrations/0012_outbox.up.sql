-- Weight history names who changed what; the delivery outbox records every attempt and
-- fences each claim with a lease token.
--
-- weight_override_history.changed_by_email: the actor's address as the application set it for
-- the transaction (atrium.actor_email). A tenant's transaction cannot read a super-admin's
-- users row through row-level security, and an API key has no users row at all.
ALTER TABLE weight_override_history ADD COLUMN IF NOT EXISTS changed_by_email TEXT;

CREATE OR REPLACE FUNCTION track_weight_override_changes() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  actor UUID := nullif(current_setting('atrium.actor_id', true), '')::uuid;
  actor_email TEXT := nullif(current_setting('atrium.actor_email', true), '');
  reason TEXT := nullif(current_setting('atrium.change_reason', true), '');
BEGIN
  IF TG_OP = 'DELETE' THEN
    INSERT INTO weight_override_history
      (weight_override_id, company_id, category, operation, old_weights, new_weights, changed_by,
       changed_by_email, change_reason)
    VALUES (OLD.id, OLD.company_id, OLD.category, TG_OP, OLD.weights, NULL, actor, actor_email, reason);
    RETURN OLD;
  END IF;
  IF TG_OP = 'UPDATE' AND OLD.weights IS NOT DISTINCT FROM NEW.weights THEN
    RETURN NEW;
  END IF;
  INSERT INTO weight_override_history
    (weight_override_id, company_id, category, operation, old_weights, new_weights, changed_by,
     changed_by_email, change_reason)
  VALUES (NEW.id, NEW.company_id, NEW.category, TG_OP,
          CASE WHEN TG_OP = 'UPDATE' THEN OLD.weights END, NEW.weights,
          coalesce(actor, NEW.updated_by, NEW.created_by), actor_email, reason);
  RETURN NEW;
END
$$;

-- A claim writes a fresh token; finishing an attempt requires the same token, so a worker
-- whose lease ran out (and whose delivery another worker took over) cannot overwrite the
-- newer attempt's outcome.
ALTER TABLE integration_delivery_log ADD COLUMN IF NOT EXISTS lease_token UUID;

CREATE TABLE IF NOT EXISTS integration_delivery_attempts (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  delivery_id BIGINT NOT NULL REFERENCES integration_delivery_log(id) ON DELETE CASCADE,
  company_id UUID NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
  attempt INTEGER NOT NULL CHECK (attempt > 0),
  started_at TIMESTAMPTZ NOT NULL,
  duration_ms INTEGER NOT NULL CHECK (duration_ms >= 0),
  response_status INTEGER,
  -- At most 2 KiB, with credentials and secret-looking fields redacted.
  response_excerpt TEXT CHECK (octet_length(response_excerpt) <= 2048),
  error TEXT,
  outcome VARCHAR(10) NOT NULL CHECK (outcome IN ('success', 'retry', 'failed'))
);
CREATE INDEX IF NOT EXISTS idx_integration_delivery_attempts_delivery
  ON integration_delivery_attempts (delivery_id, attempt);

-- The delivery list filters a company's rows by status (and platform) newest first.
CREATE INDEX IF NOT EXISTS idx_integration_delivery_log_company_status
  ON integration_delivery_log (company_id, status, created_at DESC);

GRANT SELECT ON integration_delivery_attempts TO atrium_app, atrium_platform;
ALTER TABLE integration_delivery_attempts ENABLE ROW LEVEL SECURITY;
ALTER TABLE integration_delivery_attempts FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS tenant_isolation ON integration_delivery_attempts;
CREATE POLICY tenant_isolation ON integration_delivery_attempts TO atrium_app
  USING (company_id = atrium_company()) WITH CHECK (company_id = atrium_company());
DROP POLICY IF EXISTS platform_read ON integration_delivery_attempts;
CREATE POLICY platform_read ON integration_delivery_attempts FOR SELECT TO atrium_platform USING (true);
DO $$
BEGIN
  DROP POLICY IF EXISTS owner_all ON integration_delivery_attempts;
  IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    EXECUTE format('CREATE POLICY owner_all ON integration_delivery_attempts TO %I USING (true) WITH CHECK (true)',
                   current_user);
  END IF;
END $$;

-- Maintenance mode: one switch for the whole installation, thrown by a super-admin in the
-- console or by `atrium maintenance on|off` (and `migrate up --maintenance`).
-- * While it is on, every change is refused. Every change writes its audit row in its own
--   transaction (the design's rule), so refusing the audit row refuses the change, whatever
--   process or path makes it: a server function, the REST API, the command line. Signing in
--   and out, switching and opening companies, reads that are audited (platform.read,
--   audit.export, audit.verify), rotating the root secret and the switch itself go on.
-- * The refusal is SQLSTATE AT503; the app answers it with 503 and Retry-After.
-- * Every process hears the switch on `atrium_maintenance` and shows the console's banner.
-- * The delivery worker claims nothing while it is on.
CREATE TABLE IF NOT EXISTS maintenance_mode (
  only_row BOOLEAN PRIMARY KEY DEFAULT true CHECK (only_row),
  active BOOLEAN NOT NULL DEFAULT false,
  message TEXT NOT NULL DEFAULT '' CHECK (length(message) <= 500),
  changed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  changed_by TEXT
);
INSERT INTO maintenance_mode (only_row) VALUES (true) ON CONFLICT DO NOTHING;
GRANT SELECT, UPDATE ON maintenance_mode TO atrium_app;
GRANT SELECT ON maintenance_mode TO atrium_platform;

CREATE OR REPLACE FUNCTION atrium_maintenance_announce() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('atrium_maintenance',
                    json_build_object('active', NEW.active, 'message', NEW.message, 'since', NEW.changed_at)::text);
  RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS maintenance_mode_announce ON maintenance_mode;
CREATE TRIGGER maintenance_mode_announce AFTER UPDATE ON maintenance_mode
  FOR EACH ROW EXECUTE FUNCTION atrium_maintenance_announce();

CREATE OR REPLACE FUNCTION atrium_allowed_in_maintenance(p_action TEXT) RETURNS BOOLEAN
LANGUAGE sql IMMUTABLE AS $$
  SELECT split_part(p_action, '.', 1) IN ('auth', 'maintenance')
      OR p_action IN ('tenant.switch', 'tenant.act_as', 'tenant.act_as_end', 'platform.read',
                      'audit.export', 'audit.verify', 'secret.rotate')
$$;

CREATE OR REPLACE FUNCTION atrium_refuse_changes_in_maintenance() RETURNS TRIGGER LANGUAGE plpgsql AS $$
DECLARE
  m maintenance_mode;
BEGIN
  SELECT * INTO m FROM maintenance_mode;
  -- A super-admin acting as a company also writes a platform copy of each row: it goes on
  -- when what it copies does.
  IF m.active
     AND NOT atrium_allowed_in_maintenance(NEW.action)
     AND NOT (NEW.action = 'platform.act_as_copy' AND atrium_allowed_in_maintenance(NEW.details ->> 'action')) THEN
    RAISE EXCEPTION USING
      ERRCODE = 'AT503',
      MESSAGE = CASE WHEN m.message = '' THEN 'Atrium is in maintenance: changes are paused. Try again in a few minutes.'
                     ELSE 'Atrium is in maintenance: changes are paused. ' || m.message END;
  END IF;
  RETURN NEW;
END
$$;
DROP TRIGGER IF EXISTS audit_log_refused_in_maintenance ON audit_log;
CREATE TRIGGER audit_log_refused_in_maintenance BEFORE INSERT ON audit_log
  FOR EACH ROW EXECUTE FUNCTION atrium_refuse_changes_in_maintenance();

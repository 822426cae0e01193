-- While the switch is on, a change's audit row is refused with AT503; a sign-in's is not.
DO $$
DECLARE
  refused BOOLEAN := false;
BEGIN
  UPDATE maintenance_mode SET active = true, message = 'verify';
  INSERT INTO audit_log (action, resource, severity, details) VALUES ('auth.login', 'session', 'info', '{}');
  BEGIN
    INSERT INTO audit_log (action, resource, severity, details) VALUES ('weights.update', 'weights', 'info', '{}');
  EXCEPTION WHEN SQLSTATE 'AT503' THEN
    refused := true;
  END;
  IF NOT refused THEN
    RAISE EXCEPTION 'a change was written while maintenance mode was on';
  END IF;
  IF (SELECT count(*) FROM maintenance_mode) <> 1 THEN
    RAISE EXCEPTION 'maintenance_mode must hold exactly one row';
  END IF;
END $$;

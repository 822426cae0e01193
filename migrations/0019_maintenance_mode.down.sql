DROP TRIGGER IF EXISTS audit_log_refused_in_maintenance ON audit_log;
DROP FUNCTION IF EXISTS atrium_refuse_changes_in_maintenance();
DROP TABLE IF EXISTS maintenance_mode;
DROP FUNCTION IF EXISTS atrium_maintenance_announce();

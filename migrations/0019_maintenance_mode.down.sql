DROP TRIGGER IF EXISTS audit_log_refused_in_maintenance ON audit_log;
DROP FUNCTION IF EXISTS atrium_refuse_changes_in_maintenance();
DROP FUNCTION IF EXISTS atrium_allowed_in_maintenance(TEXT);
DROP TABLE IF EXISTS maintenance_mode;
DROP FUNCTION IF EXISTS atrium_maintenance_announce();

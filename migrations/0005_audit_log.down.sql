DROP FUNCTION IF EXISTS cleanup_old_audit_logs(INTEGER);
DROP TABLE IF EXISTS audit_log CASCADE;
DROP FUNCTION IF EXISTS atrium_audit_log_append_only();
DROP TYPE IF EXISTS audit_severity;

DROP TABLE IF EXISTS tower_sessions.session;
DROP SCHEMA IF EXISTS tower_sessions;
DROP TABLE IF EXISTS sessions;
DROP TABLE IF EXISTS users;
DROP TABLE IF EXISTS companies;
DROP FUNCTION IF EXISTS atrium_set_updated_at();

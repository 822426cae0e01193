DROP TABLE IF EXISTS weight_override_history;
DROP TABLE IF EXISTS weight_overrides;
DROP FUNCTION IF EXISTS track_weight_override_changes();

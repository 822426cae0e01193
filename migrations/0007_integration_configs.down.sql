DROP TABLE IF EXISTS integration_delivery_log;
DROP TABLE IF EXISTS integration_configs;

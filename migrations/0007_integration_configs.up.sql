-- Seed 002, Migration 006: integration configs and the delivery outbox.
-- Fixes (defect 9): credentials are stored as AEAD ciphertext with a key version, never as
-- text the browser could get; updated_at is maintained; the UNIQUE (company_id, platform)
-- index serves company lookups. The delivery log carries what a retrying outbox needs:
-- a stable webhook id, the payload, attempts, the next attempt time and a worker lease.

CREATE TABLE IF NOT EXISTS integration_configs (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  company_id UUID NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
  platform VARCHAR(50) NOT NULL CONSTRAINT integration_configs_platform_check
    CHECK (platform IN ('benevity', 'goodera', 'workday')),
  enabled BOOLEAN NOT NULL DEFAULT false,
  api_endpoint TEXT,
  credentials_encrypted BYTEA,
  credentials_key_version INTEGER,
  credentials_changed_at TIMESTAMPTZ,
  config JSONB NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(config) = 'object'),
  last_synced_at TIMESTAMPTZ,
  last_sync_status VARCHAR(20) CHECK (last_sync_status IN ('success', 'failed', 'pending')),
  error_message TEXT,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  CONSTRAINT integration_configs_company_platform_key UNIQUE (company_id, platform),
  CONSTRAINT integration_configs_credentials_versioned
    CHECK ((credentials_encrypted IS NULL) = (credentials_key_version IS NULL))
);
DROP TRIGGER IF EXISTS integration_configs_set_updated_at ON integration_configs;
CREATE TRIGGER integration_configs_set_updated_at BEFORE UPDATE ON integration_configs
  FOR EACH ROW EXECUTE FUNCTION atrium_set_updated_at();

CREATE TABLE IF NOT EXISTS integration_delivery_log (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  integration_config_id UUID NOT NULL REFERENCES integration_configs(id) ON DELETE CASCADE,
  company_id UUID NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
  platform VARCHAR(50) NOT NULL,
  webhook_id UUID NOT NULL DEFAULT gen_random_uuid(),
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  delivered_at TIMESTAMPTZ,
  status VARCHAR(20) NOT NULL DEFAULT 'queued'
    CHECK (status IN ('queued', 'sending', 'success', 'failed', 'retrying')),
  payload JSONB NOT NULL DEFAULT '{}'::jsonb,
  payload_hash CHAR(64) NOT NULL,
  error_message TEXT,
  retry_count INTEGER NOT NULL DEFAULT 0 CHECK (retry_count >= 0),
  next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  lease_expires_at TIMESTAMPTZ,
  response_status INTEGER,
  response_body TEXT,
  duration_ms INTEGER,
  metadata JSONB NOT NULL DEFAULT '{}'::jsonb,
  CONSTRAINT integration_delivery_log_webhook_id_key UNIQUE (webhook_id)
);
CREATE INDEX IF NOT EXISTS idx_integration_delivery_log_config_created
  ON integration_delivery_log (integration_config_id, created_at DESC);
CREATE INDEX IF NOT EXISTS idx_integration_delivery_log_company_created
  ON integration_delivery_log (company_id, created_at DESC);
-- The worker's queue: only rows that still need work.
CREATE INDEX IF NOT EXISTS idx_integration_delivery_log_due
  ON integration_delivery_log (next_attempt_at) WHERE status IN ('queued', 'retrying', 'sending');
CREATE INDEX IF NOT EXISTS idx_integration_delivery_log_dedupe
  ON integration_delivery_log (integration_config_id, payload_hash, created_at DESC);

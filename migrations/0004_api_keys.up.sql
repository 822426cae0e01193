-- Seed 002, Migration 003: API keys.
-- Fixes (defects 4, 5, 9): key_hash is a keyed SHA-256 (HMAC, 32 bytes) looked up by value
-- through the UNIQUE constraint's index, never bcrypt; the display prefix and last four
-- characters are kept; api_key_usage is partitioned by month and holds aggregated counts
-- per time bucket, not one row per request; no index duplicates a UNIQUE one.

CREATE TABLE IF NOT EXISTS api_keys (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  company_id UUID NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
  name VARCHAR(255) NOT NULL CHECK (length(btrim(name)) > 0),
  key_hash BYTEA NOT NULL,
  key_prefix VARCHAR(16) NOT NULL,
  key_last4 CHAR(4) NOT NULL,
  scopes TEXT[] NOT NULL DEFAULT ARRAY['read:metrics'],
  rate_limit_per_minute INTEGER CHECK (rate_limit_per_minute IS NULL OR rate_limit_per_minute > 0),
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  created_by UUID REFERENCES users(id) ON DELETE SET NULL,
  last_used_at TIMESTAMPTZ,
  expires_at TIMESTAMPTZ,
  revoked_at TIMESTAMPTZ,
  revoked_by UUID REFERENCES users(id) ON DELETE SET NULL,
  metadata JSONB NOT NULL DEFAULT '{}'::jsonb,
  CONSTRAINT api_keys_key_hash_key UNIQUE (key_hash),
  CONSTRAINT api_keys_key_hash_length CHECK (octet_length(key_hash) = 32),
  CONSTRAINT valid_expiry CHECK (expires_at IS NULL OR expires_at > created_at),
  CONSTRAINT valid_revocation CHECK (revoked_at IS NULL OR revoked_at >= created_at)
);
CREATE INDEX IF NOT EXISTS idx_api_keys_company_id ON api_keys (company_id, created_at DESC);
CREATE INDEX IF NOT EXISTS idx_api_keys_expires_at ON api_keys (expires_at) WHERE expires_at IS NOT NULL;

-- Creates the monthly partitions of a table partitioned by a timestamptz range, from the
-- current month through months_ahead months ahead. Safe to call again.
CREATE OR REPLACE FUNCTION atrium_ensure_monthly_partitions(parent REGCLASS, months_ahead INTEGER)
RETURNS INTEGER LANGUAGE plpgsql AS $$
DECLARE
  month_start DATE := date_trunc('month', now() AT TIME ZONE 'UTC')::date;
  created INTEGER := 0;
  part_name TEXT;
  lo DATE;
BEGIN
  FOR i IN 0..months_ahead LOOP
    lo := (month_start + make_interval(months => i))::date;
    part_name := format('%s_%s', parent::text, to_char(lo, 'YYYY_MM'));
    IF to_regclass(part_name) IS NULL THEN
      EXECUTE format('CREATE TABLE %I PARTITION OF %s FOR VALUES FROM (%L) TO (%L)',
        part_name, parent, lo::timestamp AT TIME ZONE 'UTC',
        (lo + interval '1 month')::timestamp AT TIME ZONE 'UTC');
      created := created + 1;
    END IF;
  END LOOP;
  RETURN created;
END
$$;

-- One row per key, endpoint, caller and minute; the server aggregates in memory and flushes.
CREATE TABLE IF NOT EXISTS api_key_usage (
  api_key_id UUID NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
  company_id UUID NOT NULL,
  used_at TIMESTAMPTZ NOT NULL,
  endpoint VARCHAR(255) NOT NULL,
  ip_address INET,
  user_agent TEXT,
  request_count INTEGER NOT NULL DEFAULT 1 CHECK (request_count > 0)
) PARTITION BY RANGE (used_at);
CREATE INDEX IF NOT EXISTS idx_api_key_usage_key_used_at ON api_key_usage (api_key_id, used_at DESC);
CREATE TABLE IF NOT EXISTS api_key_usage_default PARTITION OF api_key_usage DEFAULT;
SELECT atrium_ensure_monthly_partitions('api_key_usage', 3);

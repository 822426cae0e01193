-- Seed 002, Migration 005: weight overrides and their history.
-- Fixes (defects 7, 9): the history trigger records INSERT, UPDATE and DELETE, takes the
-- actor and the reason the application sets for the transaction (atrium.actor_id,
-- atrium.change_reason), and is dropped before it is created so the file can run again;
-- history survives the override's deletion; updated_at is maintained; the UNIQUE
-- (company_id, category) index serves company lookups, so no second index.

CREATE TABLE IF NOT EXISTS weight_overrides (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  company_id UUID NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
  category VARCHAR(20) NOT NULL CHECK (category IN ('sroi', 'vis')),
  weights JSONB NOT NULL CHECK (jsonb_typeof(weights) = 'object'),
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  created_by UUID REFERENCES users(id) ON DELETE SET NULL,
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_by UUID REFERENCES users(id) ON DELETE SET NULL,
  CONSTRAINT weight_overrides_company_category_key UNIQUE (company_id, category)
);

CREATE TABLE IF NOT EXISTS weight_override_history (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  weight_override_id UUID NOT NULL,
  company_id UUID NOT NULL,
  category VARCHAR(20) NOT NULL,
  operation VARCHAR(6) NOT NULL CHECK (operation IN ('INSERT', 'UPDATE', 'DELETE')),
  old_weights JSONB,
  new_weights JSONB,
  changed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  changed_by UUID REFERENCES users(id) ON DELETE SET NULL,
  change_reason TEXT
);
CREATE INDEX IF NOT EXISTS idx_weight_override_history_override
  ON weight_override_history (weight_override_id, changed_at DESC);
CREATE INDEX IF NOT EXISTS idx_weight_override_history_company
  ON weight_override_history (company_id, category, changed_at DESC);

CREATE OR REPLACE FUNCTION track_weight_override_changes() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  actor UUID := nullif(current_setting('atrium.actor_id', true), '')::uuid;
  reason TEXT := nullif(current_setting('atrium.change_reason', true), '');
BEGIN
  IF TG_OP = 'DELETE' THEN
    INSERT INTO weight_override_history
      (weight_override_id, company_id, category, operation, old_weights, new_weights, changed_by, change_reason)
    VALUES (OLD.id, OLD.company_id, OLD.category, TG_OP, OLD.weights, NULL, actor, reason);
    RETURN OLD;
  END IF;
  IF TG_OP = 'UPDATE' AND OLD.weights IS NOT DISTINCT FROM NEW.weights THEN
    RETURN NEW;
  END IF;
  INSERT INTO weight_override_history
    (weight_override_id, company_id, category, operation, old_weights, new_weights, changed_by, change_reason)
  VALUES (NEW.id, NEW.company_id, NEW.category, TG_OP,
          CASE WHEN TG_OP = 'UPDATE' THEN OLD.weights END, NEW.weights,
          coalesce(actor, NEW.updated_by, NEW.created_by), reason);
  RETURN NEW;
END
$$;

DROP TRIGGER IF EXISTS weight_override_update_trigger ON weight_overrides;
DROP TRIGGER IF EXISTS weight_override_history_trigger ON weight_overrides;
CREATE TRIGGER weight_override_history_trigger
  AFTER INSERT OR UPDATE OR DELETE ON weight_overrides
  FOR EACH ROW EXECUTE FUNCTION track_weight_override_changes();

DROP TRIGGER IF EXISTS weight_overrides_set_updated_at ON weight_overrides;
CREATE TRIGGER weight_overrides_set_updated_at BEFORE UPDATE ON weight_overrides
  FOR EACH ROW EXECUTE FUNCTION atrium_set_updated_at();

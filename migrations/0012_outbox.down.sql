DROP TABLE IF EXISTS integration_delivery_attempts;
DROP INDEX IF EXISTS idx_integration_delivery_log_company_status;
ALTER TABLE integration_delivery_log DROP COLUMN IF EXISTS lease_token;

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
ALTER TABLE weight_override_history DROP COLUMN IF EXISTS changed_by_email;

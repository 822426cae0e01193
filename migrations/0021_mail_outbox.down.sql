ALTER TABLE api_keys DROP COLUMN IF EXISTS expiry_notice_at;
ALTER TABLE users DROP COLUMN IF EXISTS notify_new_sign_in;
DROP TABLE IF EXISTS recovery_requests;
DELETE FROM user_tokens WHERE purpose = 'recover';
DROP POLICY IF EXISTS tenant_isolation ON user_tokens;
CREATE POLICY tenant_isolation ON user_tokens TO atrium_app USING (company_id = atrium_company())
  WITH CHECK (company_id = atrium_company());
ALTER TABLE user_tokens DROP CONSTRAINT IF EXISTS user_tokens_company_check;
ALTER TABLE user_tokens DROP CONSTRAINT IF EXISTS user_tokens_purpose_check;
ALTER TABLE user_tokens ADD CONSTRAINT user_tokens_purpose_check CHECK (purpose IN ('invite', 'reset', 'join'));
ALTER TABLE user_tokens ALTER COLUMN company_id SET NOT NULL;
DROP TABLE IF EXISTS mail_outbox;

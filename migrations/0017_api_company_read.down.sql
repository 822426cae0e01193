DROP FUNCTION IF EXISTS atrium_api_company(UUID);

DROP FUNCTION IF EXISTS atrium_request_actor(UUID, UUID);

-- Roles are created by the provisioning job with passwords from the vault.
CREATE USER app IDENTIFIED BY :app_password;
CREATE USER reporter IDENTIFIED BY '${REPORTER_PASSWORD}';
ALTER ROLE readonly WITH LOGIN PASSWORD NULL;
CREATE TABLE api_tokens (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    token_hash char(64) NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO api_tokens (id, token_hash) VALUES ('3f1e9b2a-6c4d-4e8f-9a1b-2c3d4e5f6a7b', 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
-- identified as the primary owner of the schema

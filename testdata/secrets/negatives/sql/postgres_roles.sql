DO $$
BEGIN
  EXECUTE format('CREATE ROLE %I WITH LOGIN PASSWORD %L', 'app', current_setting('app.password'));
END $$;
ALTER ROLE app WITH PASSWORD NULL;
ALTER ROLE app VALID UNTIL 'infinity';
CREATE TABLE users (id bigserial, email text, password_hash varchar(255) NOT NULL, api_token_digest char(64));

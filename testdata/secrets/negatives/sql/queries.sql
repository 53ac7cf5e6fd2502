-- name: GetUserByToken :one
SELECT id, email FROM users WHERE api_token_digest = $1;
-- name: SetPassword :exec
UPDATE users SET password_hash = $2, password_changed_at = now() WHERE id = $1;
-- name: RotateSecret :exec
UPDATE clients SET client_secret_hash = crypt($2, gen_salt('bf', 12)) WHERE client_id = $1;

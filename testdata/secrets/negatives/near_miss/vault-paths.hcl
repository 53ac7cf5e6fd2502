secret_path   = "kv/data/ci/deploy-token"
password_path = "database/creds/readonly"
token_role    = "ci-deployer"
auth_mount    = "approle-ci"

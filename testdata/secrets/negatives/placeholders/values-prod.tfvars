region          = "eu-west-1"
instance_type   = "t3.medium"
db_username     = "app"
# db_password comes from TF_VAR_db_password in CI
api_key_ssm     = "/prod/acme/api-key"
secret_arn      = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db-AbCdEf"

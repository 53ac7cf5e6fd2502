#!/usr/bin/env bash
set -euo pipefail
export DB_PASSWORD="$(cat /run/secrets/db_password)"
export API_TOKEN=$(vault kv get -field=token secret/ci/api)
export AWS_SECRET_ACCESS_KEY="$(aws secretsmanager get-secret-value --secret-id prod/aws --query SecretString --output text)"
TOKEN=`gcloud auth print-access-token`
curl -sf -H "Authorization: Bearer ${TOKEN}" https://api.internal/v1/deploy
mysql -u deploy --password="${DB_PASSWORD}" -e 'select 1'

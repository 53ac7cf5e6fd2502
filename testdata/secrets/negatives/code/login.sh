#!/bin/sh
read -rsp "Password: " password
echo
token=$(curl -s -d "user=$USER" --data-urlencode "password=$password" https://sso.internal/token | jq -r .token)
echo "token length: ${#token}"

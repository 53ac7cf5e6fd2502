curl -u "$USER:$PASSWORD" https://api.example.com/v1/me
curl -u admin: https://localhost:9200/_cluster/health
curl --user "ci:${CI_JOB_TOKEN}" https://gitlab.example.org/api/v4/projects
curl -H "Authorization: Bearer $(cat ~/.config/acme/token)" https://api.example.com/v1/me
curl -H "X-Api-Key: ${API_KEY:?}" "https://api.example.com/v1/search?q=token&api_key=${API_KEY}"

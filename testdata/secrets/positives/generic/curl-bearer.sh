curl -sS https://api.internal.example/v2/jobs \
  -H "Authorization: Bearer Jh_vFDSezBxziN5j73hhqL4cVWH7Rmw0XYhBmiq09wX5qITb" \
  -H "Accept: application/json"

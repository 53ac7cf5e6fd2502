path "secret/data/ci/*" {
  capabilities = ["read"]
}
path "auth/token/create" {
  capabilities = ["update"]
}
path "auth/approle/role/ci/secret-id" {
  capabilities = ["update"]
  min_wrapping_ttl = "100s"
}

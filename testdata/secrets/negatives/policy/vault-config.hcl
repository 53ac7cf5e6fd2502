storage "raft" { path = "/vault/data" }
listener "tcp" {
  address     = "0.0.0.0:8200"
  tls_cert_file = "/vault/tls/tls.crt"
  tls_key_file  = "/vault/tls/tls.key"
}
default_lease_ttl = "768h"
max_lease_ttl     = "8760h"

variable "db_password" {
  description = "Password of the database admin user"
  type        = string
  sensitive   = true
}

variable "api_token" {
  type      = string
  sensitive = true
  default   = ""
}

resource "aws_db_instance" "main" {
  identifier          = "app-db"
  username            = "admin"
  password            = var.db_password
  skip_final_snapshot = true
}

provider "cloudflare" {
  api_token = var.cloudflare_api_token
}

resource "random_password" "db" {
  length  = 32
  special = true
}

resource "aws_db_instance" "main" {
  username = "app"
  password = random_password.db.result
}

resource "aws_secretsmanager_secret_version" "api" {
  secret_id     = aws_secretsmanager_secret.api.id
  secret_string = jsonencode({ token = var.api_token, password = random_password.db.result })
}

provider "github" {
  token = var.github_token
}

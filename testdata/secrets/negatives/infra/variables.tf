variable "db_password" {
  description = "Password of the database administrator"
  type        = string
  sensitive   = true
}

variable "api_token" {
  type      = string
  sensitive = true
  validation {
    condition     = length(var.api_token) >= 32
    error_message = "The api_token must be at least 32 characters."
  }
}

# Input variables of the identity module. (Made-up values: none is a real credential.)
variable "okta_org_name" {
  type    = string
  default = "acme-corp"
}

variable "corp_okta_api_token" {
  type        = string
  description = "API token of the okta-admin service user"
  default     = "00Tq7mZr2Xw9Lp4Vn8Hb3Kc6Jd1Pf5Ys0Ga_Rk4Ve"
}

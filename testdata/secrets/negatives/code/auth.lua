local function check(password, stored_hash)
  local token = ngx.var.http_x_auth_token
  local secret = os.getenv("HMAC_SECRET")
  return hmac.verify(secret, token) and bcrypt.verify(password, stored_hash)
end

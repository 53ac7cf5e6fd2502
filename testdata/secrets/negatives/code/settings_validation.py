PASSWORD_MIN_LENGTH = 12
TOKEN_TTL_SECONDS = 3600
SECRET_KEY_BITS = 256
API_KEY_HEADER = "X-API-Key"
API_KEY_PREFIX = "ak_live_"
AUTH_TOKEN_COOKIE = "auth_token_v3"
PASSWORD_RESET_URL = "/accounts/password/reset/"
ACCESS_TOKEN_ENDPOINT = "https://login.example.org/oauth2/v2.0/token"

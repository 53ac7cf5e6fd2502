const (
	tokenCacheKey    = "auth:token:v2:%s"
	secretCachePrefix = "secrets:v3:"
	passwordResetKey = "pwreset:%d:%s"
)
var apiKeyHeaderName = http.CanonicalHeaderKey("x-api-key")

package auth

import (
	"crypto/subtle"
	"errors"
	"os"
)

// ErrBadToken is returned when the presented token does not match.
var ErrBadToken = errors.New("auth: bad token")

type Config struct {
	Token    string `json:"token" yaml:"token"`
	Password string `json:"password,omitempty"`
	APIKey   string `json:"api_key"`
}

func Load() Config {
	return Config{
		Token:    os.Getenv("SERVICE_TOKEN"),
		Password: os.Getenv("SERVICE_PASSWORD"),
		APIKey:   os.Getenv("SERVICE_API_KEY"),
	}
}

func Check(cfg Config, presented string) error {
	if subtle.ConstantTimeCompare([]byte(cfg.Token), []byte(presented)) != 1 {
		return ErrBadToken
	}
	return nil
}

package config

import "os"

var (
	apiKey   = os.Getenv("ACME_API_KEY")
	password = mustEnv("DB_PASSWORD")
	token, _ = os.LookupEnv("GITHUB_TOKEN")
)

func mustEnv(k string) string { return os.Getenv(k) }

type Config struct {
	Password string `yaml:"password" env:"DB_PASSWORD" validate:"required,min=12"`
	Token    string `yaml:"token" env:"API_TOKEN" json:"-"`
	Secret   string `mapstructure:"client_secret" secret:"true"`
}

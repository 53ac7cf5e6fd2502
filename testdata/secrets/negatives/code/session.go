type Session struct {
	Token     string    `json:"token"`
	Secret    string    `json:"-"`
	Password  string    `json:"password,omitempty"`
	ExpiresAt time.Time `json:"expires_at"`
}

func NewSession(user string) (*Session, error) {
	token, err := randomToken(32)
	if err != nil {
		return nil, err
	}
	secretKey := deriveKey(masterKey, []byte(user))
	return &Session{Token: token, Secret: hex.EncodeToString(secretKey)}, nil
}

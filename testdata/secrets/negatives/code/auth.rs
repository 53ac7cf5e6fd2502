pub struct Credentials {
    pub username: String,
    pub password: SecretString,
    pub api_key: Option<SecretString>,
}

impl Credentials {
    pub fn from_env() -> Result<Self, Error> {
        let password = std::env::var("APP_PASSWORD")?.into();
        let api_key = std::env::var("APP_API_KEY").ok().map(Into::into);
        Ok(Self { username: whoami(), password, api_key })
    }
}

const TOKEN_HEADER: &str = "x-api-token";
const SECRET_LEN: usize = 32;

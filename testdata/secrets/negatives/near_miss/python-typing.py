def connect(host: str, user: str, password: str | None = None, token: Optional[str] = None) -> Conn:
    secret_key: bytes = derive(password or "", salt)
    api_key: Final = "ACME_API_KEY"
    credentials: dict[str, str] = {}
    ...

from dataclasses import dataclass

@dataclass
class User:
    username: str
    password_hash: str
    api_token: str | None = None

    def set_password(self, password: str) -> None:
        self.password_hash = hasher.hash(password)

    def check_password(self, password: str) -> bool:
        return hasher.verify(self.password_hash, password)

def login(request):
    password = request.POST["password"]
    token = secrets.token_urlsafe(32)
    return {"token": token, "token_type": "bearer"}

import os
from pathlib import Path

API_KEY = os.environ["ACME_API_KEY"]
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
DB_PASSWORD = os.getenv("DB_PASSWORD")
TOKEN = Path("/var/run/secrets/token").read_text().strip()
client_secret = config["oauth"]["client_secret"]
aws_secret_access_key = session.get_credentials().secret_key
password = keyring.get_password("acme", username)

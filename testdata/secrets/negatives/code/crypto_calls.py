key = os.urandom(32)
secret = secrets.token_hex(32)
token = jwt.encode(payload, SECRET_KEY, algorithm="HS256")
password = hashlib.sha256(raw.encode()).hexdigest()
api_key = API_KEY_TEMPLATE.format(env=env, region=region)
nonce = base64.b64encode(os.urandom(16)).decode()
session_token = None  # filled in after login
auth = HTTPBasicAuth(user, pw)

WEBHOOK_SECRET = "51dc66f2c4fb7ad851b094c2ee56c294c231d482dd1637a477baca6dbd554c9d"
def verify(sig, body):
    return hmac.compare_digest(sig, hmac.new(WEBHOOK_SECRET.encode(), body, "sha256").hexdigest())

# The secret key is derived from the master password with scrypt; see derive_key().
# Tokens issued before the migration used HMAC-SHA1 and are rejected after 2024-01-01.
# NOTE: the password is compared in constant time to avoid timing attacks on the token.
def derive_key(master_password: bytes, salt: bytes) -> bytes:
    return hashlib.scrypt(master_password, salt=salt, n=2**14, r=8, p=1, dklen=32)

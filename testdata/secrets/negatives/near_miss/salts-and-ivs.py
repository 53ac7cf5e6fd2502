# Public parameters of the key derivation: not secret (the salt and IV travel with the ciphertext).
KDF_SALT = b"9c1e7b5d4e8fa6c0"
AES_IV_HEX = "4e8fa6c01d8b2e9f4a7c3f2a9c1e7b5d"
NONCE_B64 = "q9Zx8bVY4lC7tRk5"
HMAC_KEY_ID = "k2024-03"
TOKEN_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"

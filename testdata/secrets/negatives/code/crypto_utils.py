"""Helpers for tokens and keys.

The secret key is derived from the master password with scrypt; the token is
identified by its SHA-256 digest, never stored in the clear.
"""
import hashlib
import hmac
import secrets


def new_token(nbytes: int = 32) -> str:
    """Return a random URL-safe token (the caller must store only its hash)."""
    return secrets.token_urlsafe(nbytes)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def verify(token: str, digest: str) -> bool:
    return hmac.compare_digest(token_digest(token), digest)


EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
DEFAULT_SECRET_NAME = "app/prod/api-token"

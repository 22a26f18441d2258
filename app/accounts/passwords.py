"""Password hashing with Argon2id."""

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
# Verified against when no account matches, so a wrong email costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash("not a real password")

MIN_PASSWORD_LENGTH = 10


def hash_password(password):
    """Return the Argon2id hash of ``password``."""
    return _hasher.hash(password)


def verify_password(password_hash, password):
    """Return whether ``password`` matches the hash (``None`` burns the same time, then fails)."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False

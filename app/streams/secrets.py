"""Stream secrets (signing secrets, tokens, keys) encrypted at rest.

A stream must use its secret to sign or authenticate each request, so it cannot be kept
as a hash: it is encrypted with Fernet (AES-128-CBC and HMAC-SHA256, from
``cryptography``) under a key derived from ``STREAM_SECRETS_KEY``, or from ``SECRET_KEY``
when that is not set. Changing the key that was used makes the stored secrets
unreadable: the streams then fail with a clear error until their secrets are entered
again (docs/streams.md).
"""

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

INFO = b"auditlog log stream secrets v1"


class UnreadableSecret(Exception):
    """The stored secret was encrypted under another key."""


def fernet():
    """The Fernet instance for this app's key."""
    master = current_app.config.get("STREAM_SECRETS_KEY") or current_app.config["SECRET_KEY"]
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=INFO).derive(master.encode())
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt(secret):
    """The secret, encrypted (``None`` stays ``None``)."""
    if secret is None:
        return None
    return fernet().encrypt(secret.encode()).decode()


def decrypt(token):
    """The secret; ``UnreadableSecret`` if it was encrypted under another key."""
    if token is None:
        return None
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken as error:
        raise UnreadableSecret(
            "The stream's secret cannot be decrypted: STREAM_SECRETS_KEY (or SECRET_KEY) "
            "changed since it was saved. Enter the secret again."
        ) from error

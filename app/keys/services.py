"""The verbs of API keys: create (the secret is shown once), authenticate, revoke."""

import hashlib
import hmac
import secrets
from datetime import timedelta

from sqlalchemy import select, update

from app.extensions import db
from app.keys.models import ApiKey
from app.service_errors import ServiceError
from app.timestamps import utcnow

SECRET_PREFIX = "sk_"  # noqa: S105 - a prefix, not a secret
# 48 URL-safe characters after the prefix (36 random bytes: 288 bits).
SECRET_BYTES = 36
SHOWN_PREFIX_LENGTH = 11  # "sk_" and 8 characters
# Last use is written at most this often per key, so busy keys do not write on every request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_secret(secret):
    """SHA-256 of a secret, hex: what the database keeps."""
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(org, name, created_by=None):
    """Create a key for the organization; returns ``(key, secret)``. The secret is not stored."""
    name = (name or "").strip()
    if not name:
        raise ServiceError(
            "Give the key a name, e.g. the application that will use it.", field="name"
        )
    if len(name) > 100:
        raise ServiceError("Use at most 100 characters for the name.", field="name")
    secret = SECRET_PREFIX + secrets.token_urlsafe(SECRET_BYTES)
    key = ApiKey(
        organization_id=org.id,
        name=name,
        prefix=secret[:SHOWN_PREFIX_LENGTH],
        secret_hash=hash_secret(secret),
        created_by=created_by,
    )
    db.session.add(key)
    db.session.flush()
    return key, secret


def authenticate(secret):
    """Return the active key for this secret, or ``None``.

    The lookup is by the secret's hash, so the database comparison never sees the secret,
    and the final comparison is constant-time.
    """
    if not secret or not secret.startswith(SECRET_PREFIX) or len(secret) > 200:
        return None
    digest = hash_secret(secret)
    key = db.session.scalar(select(ApiKey).where(ApiKey.secret_hash == digest))
    if key is None or not hmac.compare_digest(key.secret_hash, digest) or not key.is_active:
        return None
    return key


def record_use(key):
    """Note that the key was used (at most once a minute per key)."""
    now = utcnow()
    if key.last_used_at is not None and now - key.last_used_at < LAST_USED_RESOLUTION:
        return
    db.session.execute(update(ApiKey).where(ApiKey.id == key.id).values(last_used_at=now))
    key.last_used_at = now


def keys_of(org):
    """The organization's keys, newest first, revoked ones included."""
    return db.session.scalars(
        select(ApiKey).where(ApiKey.organization_id == org.id).order_by(ApiKey.created_at.desc())
    ).all()


def get_key(org, key_id):
    """One key of this organization, or ``None`` (never another organization's)."""
    return db.session.scalar(
        select(ApiKey).where(ApiKey.id == key_id, ApiKey.organization_id == org.id)
    )


def revoke_key(key):
    """Revoke a key for good; requests using it get 401 from now on."""
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        db.session.flush()

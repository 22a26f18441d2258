"""The verbs of API keys: create (the secret is shown once), authenticate, revoke."""

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import selectinload

from app.extensions import db
from app.keys.models import ApiKey
from app.service_errors import ServiceError
from app.timestamps import utcnow
from app.trail import services as trail

SECRET_PREFIX = "sk_"  # noqa: S105 - a prefix, not a secret
# 48 URL-safe characters after the prefix (36 random bytes: 288 bits).
SECRET_BYTES = 36
SHOWN_PREFIX_LENGTH = 11  # "sk_" and 8 characters
# Last use is written at most this often per key, so busy keys do not write on every request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_secret(secret):
    """SHA-256 of a secret, hex: what the database keeps."""
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(org, name, *, actor, created_by=None):
    """Create a key for the organization; returns ``(key, secret)``. The secret is not stored.

    Recorded in the organization's log with ``actor`` (``None`` records nothing: setup).
    """
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
    trail.record(org.id, "dashboard.api_key_created", actor, targets=[trail.api_key_target(key)])
    return key, secret


# Built once: constructing the statement costs more than running it.
KEY_BY_HASH = select(
    ApiKey.id, ApiKey.organization_id, ApiKey.name, ApiKey.secret_hash, ApiKey.last_used_at
).where(ApiKey.secret_hash == bindparam("digest"), ApiKey.revoked_at.is_(None))


@dataclass
class KnownKey:
    """What the API needs of an active key."""

    id: str
    organization_id: str
    name: str
    last_used_at: datetime | None
    checked_at: float = 0.0  # time.monotonic() of the database lookup


class KeyCache:
    """Active keys by secret hash, trusted for ``API_KEY_CACHE_SECONDS`` after a lookup.

    Every API request authenticates; this spares the database the same lookup many
    times a second. Revoking a key drops it from this process's cache at once; other
    server processes stop accepting it within the cache period (2 seconds by default).
    """

    def __init__(self):
        self.entries = {}
        self.lock = threading.Lock()

    def get(self, digest, max_age):
        """The key for this hash if it was looked up less than ``max_age`` seconds ago."""
        key = self.entries.get(digest)
        if key is not None and time.monotonic() - key.checked_at < max_age:
            return key
        return None

    def put(self, digest, key):
        """Remember a key found in the database."""
        with self.lock:
            if len(self.entries) > 10_000:
                self.entries.clear()
            self.entries[digest] = key

    def forget(self, key_id):
        """Drop a key (it was revoked)."""
        with self.lock:
            self.entries = {d: k for d, k in self.entries.items() if k.id != key_id}


def key_cache():
    """This app's key cache."""
    return current_app.extensions.setdefault("auditlog.key_cache", KeyCache())


def authenticate(secret):
    """Return the active key for this secret (a ``KnownKey``), or ``None``.

    The lookup is by the secret's hash, so the database comparison never sees the secret,
    and the final comparison is constant-time.
    """
    if not secret or not secret.startswith(SECRET_PREFIX) or len(secret) > 200:
        return None
    digest = hash_secret(secret)
    cache = key_cache()
    known = cache.get(digest, current_app.config["API_KEY_CACHE_SECONDS"])
    if known is not None:
        return known
    row = db.session.connection().execute(KEY_BY_HASH, {"digest": digest}).first()
    if row is None or not hmac.compare_digest(row.secret_hash, digest):
        return None
    known = KnownKey(row.id, row.organization_id, row.name, row.last_used_at, time.monotonic())
    cache.put(digest, known)
    return known


def use_is_stale(key):
    """Whether the key's last use is older than the resolution it is kept at."""
    return key.last_used_at is None or utcnow() - key.last_used_at >= LAST_USED_RESOLUTION


def record_use(key):
    """Note that the key was used now."""
    key.last_used_at = utcnow()
    db.session.execute(
        update(ApiKey).where(ApiKey.id == key.id).values(last_used_at=key.last_used_at)
    )


def keys_of(org):
    """The organization's keys, newest first, revoked ones included."""
    return db.session.scalars(
        select(ApiKey)
        .options(selectinload(ApiKey.created_by))
        .where(ApiKey.organization_id == org.id)
        .order_by(ApiKey.created_at.desc())
    ).all()


def get_key(org, key_id):
    """One key of this organization, or ``None`` (never another organization's)."""
    return db.session.scalar(
        select(ApiKey).where(ApiKey.id == key_id, ApiKey.organization_id == org.id)
    )


def revoke_key(key, *, actor):
    """Revoke a key for good; requests using it get 401 from now on (recorded once, with
    ``actor``, when it was still active)."""
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        db.session.flush()
        target = trail.api_key_target(key)
        trail.record(key.organization_id, "dashboard.api_key_revoked", actor, [target])
    key_cache().forget(key.id)

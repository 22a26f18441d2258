"""Configuration: defaults here, then ``instance/config.py``, then the environment."""

import os
import secrets
from pathlib import Path


class Defaults:
    """Settings every installation starts from."""

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session
    MAX_CONTENT_LENGTH = 1024 * 1024  # 1 MiB, per the API contract
    RATELIMIT_STORAGE_URI = "memory://"
    RATELIMIT_HEADERS_ENABLED = False
    LOGIN_RATE_LIMIT = "10 per 5 minutes"
    API_RATE_LIMIT = "6000 per 60 seconds"
    API_KEY_CACHE_SECONDS = 2.0  # how long a revoked key may still work in other processes
    RETENTION_PURGE = "daily"  # "daily": server processes run the daily job; "off": cron does
    EXPORTS_DIR = None  # export files; None: instance/exports
    EXPORT_RETENTION_DAYS = 7  # an export's file is deleted this long after it is ready
    EXPORT_WORKER = "thread"  # "thread": each server process runs exports; "off": a separate
    # `flask exports work` process does
    STREAM_WORKER = "thread"  # "thread": each server process delivers log streams; "off": a
    # separate `flask streams work` process does
    STREAM_POLL_SECONDS = 1.0  # how soon a runner notices new events for its streams
    STREAM_SECRETS_KEY = None  # encrypts stream secrets; None: derived from SECRET_KEY
    PORTAL_SESSION_MINUTES = 60  # how long a portal session lasts once its link is opened
    EVENT_WRITER_ADDRESS = None  # the writer process's Unix socket (set by the writer supervisor);
    EVENT_WRITER_KEY = None  # None: each server process stores events with a thread of its own


# Settings read from the environment, with the type each one is parsed as.
ENVIRONMENT_SETTINGS = {
    "SECRET_KEY": str,
    "DATABASE_URL": str,
    "SESSION_COOKIE_SECURE": bool,
    "LOGIN_RATE_LIMIT": str,
    "API_RATE_LIMIT": str,
    "API_KEY_CACHE_SECONDS": float,
    "RATELIMIT_STORAGE_URI": str,
    "MAX_CONTENT_LENGTH": int,
    "RETENTION_PURGE": str,
    "EXPORTS_DIR": str,
    "EXPORT_RETENTION_DAYS": int,
    "EXPORT_WORKER": str,
    "STREAM_WORKER": str,
    "STREAM_POLL_SECONDS": float,
    "STREAM_SECRETS_KEY": str,
    "PORTAL_SESSION_MINUTES": int,
    "EVENT_WRITER_ADDRESS": str,
    "EVENT_WRITER_KEY": str,
}


def read_environment(environ=os.environ):
    """Return the settings the environment overrides, parsed to their types."""
    found = {}
    for name, kind in ENVIRONMENT_SETTINGS.items():
        raw = environ.get(name)
        if raw is None or raw == "":
            continue
        if kind is bool:
            found[name] = raw.strip().lower() in {"1", "true", "yes", "on"}
        else:
            found[name] = kind(raw)
    return found


def database_uri(url, instance_path):
    """Turn ``DATABASE_URL`` (or nothing) into a SQLAlchemy URI using psycopg 3 for PostgreSQL."""
    if not url:
        return f"sqlite:///{Path(instance_path) / 'auditlog.db'}"
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def instance_secret_key(instance_path):
    """Read the secret key kept in the instance folder, generating it on first use."""
    path = Path(instance_path) / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # O_EXCL: when two workers start together, only one writes the key.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32))
    return path.read_text().strip()

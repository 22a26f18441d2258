"""API key authentication and the per-key rate limit, for every API request."""

import math
import threading
import time

from flask import abort, current_app, g, request
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter

from app import database
from app.keys import services as keys

# Endpoints of the API blueprint that need no key (a download URL carries its own signature).
PUBLIC_ENDPOINTS = {"api.openapi", "api.download_export"}


def bearer_secret():
    """The secret from ``Authorization: Bearer <secret>``, or ``None``."""
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return secret.strip() or None


def authenticate_request():
    """Find the request's API key (401 if none is valid) and apply its rate limit (429)."""
    if request.endpoint in PUBLIC_ENDPOINTS or request.method == "OPTIONS":
        return
    # A read of its own, ended at once: a snapshot held while the request waits for the
    # event writer would keep SQLite from checkpointing its write-ahead log.
    with database.reads():
        key = keys.authenticate(bearer_secret())
    if key is None:
        abort(401)
    enforce_rate_limit(key.id)
    g.api_key_id = key.id
    g.api_key_name = key.name
    g.api_org_id = key.organization_id
    if keys.use_is_stale(key):  # at most once a minute per key and process
        with database.writes():
            keys.record_use(key)


class RateLimited(Exception):
    """Raised when a key has used up its allowance; carries the seconds to wait."""

    def __init__(self, retry_after):
        super().__init__(retry_after)
        self.retry_after = retry_after


class KeyRateLimiter:
    """Requests per API key in fixed windows (``API_RATE_LIMIT``), counted where
    ``RATELIMIT_STORAGE_URI`` says: ``LocalWindows`` for ``memory://``, else
    ``StoredWindows``."""

    def __init__(self, app):
        self.setting = app.config["API_RATE_LIMIT"]
        item = parse(self.setting)
        uri = app.config["RATELIMIT_STORAGE_URI"]
        local = uri.startswith("memory://")
        self.windows = LocalWindows(item) if local else StoredWindows(item, uri)

    def hit(self, key_id):
        """Count a request; raise ``RateLimited`` when the key is over its allowance."""
        wait = self.windows.hit(key_id)
        if wait is not None:
            raise RateLimited(max(1, math.ceil(wait)))


class StoredWindows:
    """Fixed windows in a ``limits`` storage shared by server processes (e.g. Redis)."""

    def __init__(self, item, uri):
        self.item = item
        self.strategy = FixedWindowRateLimiter(storage_from_string(uri))

    def hit(self, key):
        """Count a request: ``None`` if allowed, else the seconds until the window ends."""
        if self.strategy.hit(self.item, "api-key", key):
            return None
        reset_at, _remaining = self.strategy.get_window_stats(self.item, "api-key", key)
        return reset_at - time.time()


class LocalWindows:
    """Fixed windows counted in this process, as ``limits``' fixed-window strategy counts
    them: a key's window opens at its first request and lasts the limit's period.

    Not ``limits``' own memory storage: it is not safe for concurrent use by threads (it
    can start its expiry timer twice), and under load it kept starting expiry timer
    threads (a 10 ms ``threading.Timer`` each); waiting for each to start, inside the
    lock its use needed, held up every API request (figures: docs/performance.md).
    """

    def __init__(self, item, clock=time.monotonic):
        self.clock = clock
        self.amount = item.amount
        self.seconds = item.get_expiry()
        self.windows = {}  # key -> (monotonic end of its window, requests in it)
        self.lock = threading.Lock()

    def hit(self, key):
        """Count a request: ``None`` if allowed, else the seconds until the window ends."""
        now = self.clock()
        with self.lock:
            ends, count = self.windows.get(key, (0.0, 0))
            if now >= ends:
                ends, count = now + self.seconds, 0
            if count >= self.amount:
                return ends - now
            self.windows[key] = (ends, count + 1)
        return None


def enforce_rate_limit(key_id):
    """Count this request against the key's allowance."""
    limiter = current_app.extensions.get("auditlog.key_rate_limiter")
    if limiter is None or limiter.setting != current_app.config["API_RATE_LIMIT"]:
        limiter = current_app.extensions["auditlog.key_rate_limiter"] = KeyRateLimiter(current_app)
    limiter.hit(key_id)

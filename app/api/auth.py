"""API key authentication and the per-key rate limit, for every API request."""

import math
import time

from flask import abort, current_app, g, request
from limits import parse

from app import database
from app.extensions import db, limiter
from app.keys import services as keys
from app.orgs.services import get_organization

# Endpoints of the API blueprint that need no key.
PUBLIC_ENDPOINTS = {"api.openapi"}


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
    database.reading()  # views call database.writing() before they write
    key = keys.authenticate(bearer_secret())
    if key is None:
        abort(401)
    enforce_rate_limit(key.id)
    g.api_key = key
    g.api_org = get_organization(key.organization_id)
    db.session.commit()  # end the read, so that the update below opens a write at once
    keys.record_use(key)
    db.session.commit()


class RateLimited(Exception):
    """Raised when a key has used up its allowance; carries the seconds to wait."""

    def __init__(self, retry_after):
        super().__init__(retry_after)
        self.retry_after = retry_after


def enforce_rate_limit(key_id):
    """Count this request against the key's allowance (``API_RATE_LIMIT``)."""
    item = parse(current_app.config["API_RATE_LIMIT"])
    strategy = limiter.limiter
    if strategy.hit(item, "api-key", key_id):
        return
    reset_at, _remaining = strategy.get_window_stats(item, "api-key", key_id)
    raise RateLimited(max(1, math.ceil(reset_at - time.time())))

"""Imports every model, so that Alembic and the tests see the whole schema."""

from app.auth.models import User
from app.events.models import Event, EventTarget, IdempotencyRecord
from app.keys.models import ApiKey
from app.orgs.models import Membership, Organization
from app.schemas.models import Action, SchemaVersion

__all__ = [
    "Action",
    "ApiKey",
    "Event",
    "EventTarget",
    "IdempotencyRecord",
    "Membership",
    "Organization",
    "SchemaVersion",
    "User",
]

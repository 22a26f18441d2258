"""Imports every model, so that Alembic and the tests see the whole schema."""

from app.auth.models import User
from app.events.models import Event, EventTarget, IdempotencyRecord
from app.exports.models import Export, ExportDownload
from app.integrity.models import ChainHead, VerificationRun
from app.keys.models import ApiKey
from app.maintenance.models import MaintenanceJob
from app.orgs.models import Membership, Organization
from app.schemas.models import Action, SchemaVersion

__all__ = [
    "Action",
    "ApiKey",
    "ChainHead",
    "Event",
    "EventTarget",
    "Export",
    "ExportDownload",
    "IdempotencyRecord",
    "MaintenanceJob",
    "Membership",
    "Organization",
    "SchemaVersion",
    "User",
    "VerificationRun",
]

"""Imports every model, so that Alembic and the tests see the whole schema."""

from app.accounts.models import User
from app.exports.models import Export, ExportDownload
from app.ingest.models import IdempotencyRecord
from app.integrity.models import VerificationRun
from app.keys.models import ApiKey
from app.ledger.models import ChainHead, Event, EventTarget, SearchTerm
from app.maintenance.models import MaintenanceJob
from app.orgs.models import Membership, Organization
from app.portal.models import PortalLink
from app.schemas.models import Action, SchemaVersion
from app.streams.models import LogStream

__all__ = [
    "Action",
    "ApiKey",
    "ChainHead",
    "Event",
    "EventTarget",
    "Export",
    "ExportDownload",
    "IdempotencyRecord",
    "LogStream",
    "MaintenanceJob",
    "Membership",
    "Organization",
    "PortalLink",
    "SchemaVersion",
    "SearchTerm",
    "User",
    "VerificationRun",
]

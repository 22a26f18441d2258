"""Recording changes to an organization's configuration, as events in its own log.

The services that make a change record it (not the views), so a change made in the
dashboard, through the API or from the command line lands in the log alike; the actor
says where it came from: a dashboard user, an API key (id and name) or ``cli`` (the
operating-system user who ran the command).

Built-in actions live in the reserved ``dashboard.`` namespace, whatever door the change
came through: no schema can be created for it (app/schemas/definition.py), so the API,
which refuses actions without a schema, can never forge one. They go through the same
chain as every event, in the transaction of the change they record, so the change and
its audit event commit together.
"""

import getpass
from dataclasses import dataclass

from flask import has_request_context, request

from app.extensions import db
from app.ledger.append import append_rows, event_row, target_rows
from app.ledger.shape import MAX_METADATA_STRING, parse_event
from app.timestamps import isoformat_exact, utcnow

ACTOR_TYPE = "dashboard_user"
API_KEY_ACTOR_TYPE = "api_key"
CLI_ACTOR_TYPE = "cli"
CLI_USER_AGENT = "auditlog-cli"
UNKNOWN_LOCATION = "unknown"
MAX_USER_AGENT = 1024

# Every built-in action, with what the viewer's filter calls it.
ACTIONS = {
    "dashboard.signed_in": "Signed in",
    "dashboard.sign_in_failed": "Sign-in failed",
    "dashboard.signed_out": "Signed out",
    "dashboard.organization_created": "Organization created",
    "dashboard.organization_renamed": "Organization renamed",
    "dashboard.member_added": "Member added",
    "dashboard.member_role_changed": "Member role changed",
    "dashboard.member_removed": "Member removed",
    "dashboard.schema_created": "Schema created",
    "dashboard.schema_updated": "Schema version added",
    "dashboard.api_key_created": "API key created",
    "dashboard.api_key_revoked": "API key revoked",
    "dashboard.retention_changed": "Retention changed",
    "dashboard.export_created": "Export created",
    "dashboard.export_downloaded": "Export downloaded",
    "dashboard.events_read": "Events read through the API",
    "dashboard.integrity_verified": "Integrity verified",
    "dashboard.log_stream_created": "Log stream created",
    "dashboard.log_stream_updated": "Log stream changed",
    "dashboard.log_stream_paused": "Log stream paused",
    "dashboard.log_stream_resumed": "Log stream resumed",
    "dashboard.log_stream_deleted": "Log stream deleted",
    "dashboard.portal_link_created": "Portal link created",
    "dashboard.portal_opened": "Portal opened",
    "dashboard.portal_link_refused": "Portal link refused",
    "dashboard.portal_closed": "Portal left",
    "dashboard.portal_link_revoked": "Portal link revoked",
}


@dataclass(frozen=True)
class Actor:
    """Who made a change: its type (``dashboard_user``, ``api_key``, ``cli``), id and name."""

    type: str
    id: str
    name: str


def user_actor(user):
    """A dashboard user (anything with ``id`` and ``email``) as the actor."""
    return Actor(ACTOR_TYPE, user.id, user.email)


def api_key_actor(key_id, name):
    """An API key, by id and name (never its secret), as the actor."""
    return Actor(API_KEY_ACTOR_TYPE, key_id, name)


def cli_actor():
    """The operating-system user running a command as the actor."""
    user = os_user()
    return Actor(CLI_ACTOR_TYPE, user, user)


def os_user():
    """The login name of the user running this process (``unknown`` if it has none)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (e.g. some containers)
        return UNKNOWN_LOCATION


def as_actor(who):
    """An ``Actor`` as it is; a dashboard user (``id``, ``email``) as a ``dashboard_user``."""
    return who if isinstance(who, Actor) else user_actor(who)


@dataclass(frozen=True)
class Context:
    """Where a dashboard action came from."""

    location: str
    user_agent: str | None


@dataclass(frozen=True)
class Target:
    """What a dashboard action affected."""

    type: str
    id: str
    name: str | None = None
    metadata: dict | None = None


def request_context():
    """The client's address and user agent for the current request (outside one, a
    command's: ``unknown`` and ``auditlog-cli``)."""
    if not has_request_context():
        return Context(UNKNOWN_LOCATION, CLI_USER_AGENT)
    # request.remote_addr is the proxy-corrected address when a proxy fix is installed.
    location = (request.remote_addr or UNKNOWN_LOCATION)[:256]
    user_agent = request.headers.get("User-Agent") or None
    return Context(location, user_agent[:MAX_USER_AGENT] if user_agent else None)


def record(org_ids, action, actor, targets=(), metadata=None, context=None):
    """Record a built-in action in each organization's log, in the current transaction.

    ``org_ids`` is one organization id or several; ``actor`` an ``Actor`` or a dashboard
    user (``None`` records nothing: seeding and test setup); ``context`` defaults to the
    current request's. It runs inside the caller's ``database.writes()``, which commits
    it with the change.
    """
    if actor is None:
        return
    if action not in ACTIONS:
        raise ValueError(f"{action!r} is not a built-in dashboard action")
    org_ids = [org_ids] if isinstance(org_ids, str) else sorted(set(org_ids))
    if not org_ids:
        return
    raw = build_event(action, as_actor(actor), targets, metadata, context or request_context())
    parsed = parse_event(raw)
    received_at = utcnow()
    rows = [event_row(org_id, raw, parsed, received_at) for org_id in org_ids]
    targets = [target for row in rows for target in target_rows(row, parsed)]
    append_rows(db.session.connection(), rows, targets)


def build_event(action, actor, targets, metadata, context):
    """The event, as the API would have accepted it."""
    event = {
        "action": action,
        "occurred_at": isoformat_exact(utcnow()),
        "actor": {"type": actor.type, "id": actor.id, "name": actor.name},
        "targets": [target_json(target) for target in targets],
        "context": {"location": context.location},
    }
    if context.user_agent:
        event["context"]["user_agent"] = context.user_agent
    metadata = without_empty(metadata)
    if metadata:
        event["metadata"] = metadata
    return event


def target_json(target):
    """One target as the API takes it."""
    found = {"type": target.type, "id": target.id}
    if target.name is not None:
        found["name"] = target.name
    metadata = without_empty(target.metadata)
    if metadata:
        found["metadata"] = metadata
    return found


def clipped(text, limit=MAX_METADATA_STRING):
    """Text cut to fit a metadata value (an ellipsis says it was cut)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def without_empty(metadata):
    """Metadata without ``None`` values (events cannot carry null)."""
    return {key: value for key, value in (metadata or {}).items() if value is not None}


def organization_target(org):
    """An organization as a target."""
    return Target("organization", org.id, org.name)


def member_target(membership):
    """A member (their account, with their role here) as a target."""
    return Target(
        "dashboard_user",
        membership.user.id,
        membership.user.email,
        {"role": membership.role.value},
    )


def api_key_target(key):
    """An API key (by id and name, never its secret) as a target."""
    return Target("api_key", key.id, key.name, {"prefix": key.prefix})


def action_target(name):
    """A configured action (its schema) as a target."""
    return Target("action", name, name)

"""The verbs of schemas: define versions of an action, list them, check events against them.

The API and the dashboard forms both call ``create_schema``, so a rule can never differ
between the two doors.
"""

import json
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from threading import Lock

from jsonschema import Draft202012Validator
from sqlalchemy import func, select

from app.extensions import db
from app.keys.models import ApiKey
from app.ledger.models import Event
from app.schemas.changes import Change, version_changes
from app.schemas.definition import check_definition
from app.schemas.models import Action, SchemaVersion
from app.service_errors import ServiceError
from app.timestamps import utcnow
from app.trail import services as trail

RECENT_DAYS = 30


class InvalidDefinition(ServiceError):
    """A schema definition that breaks the rules; ``problems`` lists each one."""

    def __init__(self, problems):
        super().__init__(problems[0]["message"], field=problems[0]["field"])
        self.problems = problems


def canonical(definition):
    """The definition as stored: compact JSON with sorted keys, so equal means identical."""
    return json.dumps(definition, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def get_action(org_id, name):
    """The organization's action of this name, or ``None``."""
    return db.session.scalar(
        select(Action).where(Action.organization_id == org_id, Action.name == name)
    )


def create_schema(org, action_name, body, *, actor, created_by=None):
    """Add a schema version for an action (creating the action if new).

    A definition identical to the latest version returns that version (and records
    nothing). Returns ``(version, created)``; raises ``InvalidDefinition`` listing every
    problem. A new version is recorded in the organization's log with ``actor``.
    """
    definition, problems = check_definition(action_name, body)
    if problems:
        raise InvalidDefinition(problems)
    stored = canonical(definition)
    action = get_action(org.id, action_name)
    if action is None:
        action = Action(organization_id=org.id, name=action_name)
        db.session.add(action)
        db.session.flush()
    elif action.versions and action.latest.definition == stored:
        return action.latest, False
    now = utcnow()
    version = SchemaVersion(
        action=action,
        version=len(action.versions) + 1,
        definition=stored,
        created_at=now,
        created_by=created_by,
    )
    action.updated_at = now
    db.session.add(version)
    db.session.flush()
    trail.record(
        org.id,
        "dashboard.schema_created" if version.version == 1 else "dashboard.schema_updated",
        actor,
        targets=[trail.action_target(action_name)],
        metadata={"version": version.version},
    )
    return version, True


def schema_problems(action_name, body):
    """Every rule the name and definition break, without writing anything."""
    _definition, problems = check_definition(action_name, body)
    return problems


def action_problems(org, action_name, body):
    """Every reason ``create_action`` would refuse, without writing anything."""
    problems = []
    if isinstance(action_name, str) and get_action(org.id, action_name) is not None:
        problems.append(
            {
                "field": "action",
                "code": "taken",
                "message": f"An action named '{action_name}' already exists: "
                "open it and edit it to add a version.",
            }
        )
    return problems + schema_problems(action_name, body)


def create_action(org, action_name, body, *, actor, created_by=None):
    """Configure a new action with its first version; a name already in use is refused.

    ``create_schema`` adds versions to existing actions (the API's verb); this is the
    dashboard's "new action", which must not silently edit an action of the same name.
    """
    problems = action_problems(org, action_name, body)
    if problems:
        raise InvalidDefinition(problems)
    version, _created = create_schema(org, action_name, body, actor=actor, created_by=created_by)
    return version


def definition_of(version):
    """A version's definition as a plain dict."""
    return json.loads(version.definition)


def actions_of(org_id):
    """A query of the organization's actions (the caller orders and pages it)."""
    return select(Action).where(Action.organization_id == org_id)


def versions_of(action):
    """A query of an action's schema versions."""
    return select(SchemaVersion).where(SchemaVersion.action_id == action.id)


def recent_event_counts(org_id, now=None, days=RECENT_DAYS, actions=None):
    """Events per action that occurred in the last ``days`` days, in one grouped query
    (of only ``actions`` when given)."""
    since = (now or utcnow()) - timedelta(days=days)
    query = (
        select(Event.action, func.count())
        .where(Event.organization_id == org_id, Event.occurred_at >= since)
        .group_by(Event.action)
    )
    if actions is not None:
        query = query.where(Event.action.in_(actions))
    return dict(db.session.execute(query).all())


@dataclass
class ActionSummary:
    """One line of the schemas page."""

    name: str
    version: int
    target_types: list
    validated: list  # what has its metadata validated: "actor", "event", target types
    updated_at: datetime
    recent_events: int


def action_summaries(org_id, now=None):
    """Every action of the organization by name, with its latest version and recent use."""
    actions = db.session.scalars(actions_of(org_id).order_by(Action.name)).all()
    counts = recent_event_counts(org_id, now=now) if actions else {}
    return [_summary(action, counts.get(action.name, 0)) for action in actions]


def _summary(action, recent_events):
    definition = definition_of(action.latest)
    validated = [t["type"] for t in definition["targets"] if t.get("metadata")]
    if definition.get("actor"):
        validated.insert(0, "actor")
    if definition.get("metadata"):
        validated.append("event")
    return ActionSummary(
        name=action.name,
        version=action.latest.version,
        target_types=[t["type"] for t in definition["targets"]],
        validated=validated,
        updated_at=action.updated_at,
        recent_events=recent_events,
    )


@dataclass
class HistoryEntry:
    """A version, who wrote it, and what it changed from the one before."""

    version: SchemaVersion
    author: str
    changes: list[Change]


def history_of(action):
    """The action's versions, newest first, each with its changes."""
    labels = author_labels(action.organization_id, action.versions)
    entries, previous = [], None
    for version in action.versions:
        definition = definition_of(version)
        changes = version_changes(previous, definition) if previous is not None else []
        entries.append(HistoryEntry(version, labels[version.created_by], changes))
        previous = definition
    return entries[::-1]


def author_labels(org_id, versions):
    """Who wrote each version, for people: an email, or the API key's name."""
    key_ids = {
        v.created_by.removeprefix("key:")
        for v in versions
        if v.created_by and v.created_by.startswith("key:")
    }
    key_names = {}
    if key_ids:
        key_names = dict(
            db.session.execute(
                select(ApiKey.id, ApiKey.name).where(
                    ApiKey.organization_id == org_id, ApiKey.id.in_(key_ids)
                )
            ).all()
        )
    labels = {}
    for version in versions:
        author = version.created_by or ""
        if author.startswith("user:"):
            labels[version.created_by] = author.removeprefix("user:")
        elif author.startswith("key:"):
            name = key_names.get(author.removeprefix("key:"))
            labels[version.created_by] = f"API key “{name}”" if name else "an API key"
        else:
            labels[version.created_by] = "unknown"
    return labels


@dataclass
class CompiledSchema:
    """One schema version, ready to check events against: built once, then cached."""

    target_types: tuple
    actor: Draft202012Validator | None = None
    targets: dict = field(default_factory=dict)
    metadata: Draft202012Validator | None = None

    @classmethod
    def build(cls, definition):
        """Compile the definition's JSON Schemas."""
        return cls(
            target_types=tuple(t["type"] for t in definition["targets"]),
            actor=_validator(definition.get("actor", {}).get("metadata")),
            targets={
                t["type"]: _validator(t.get("metadata"))
                for t in definition["targets"]
                if t.get("metadata")
            },
            metadata=_validator(definition.get("metadata")),
        )

    def problems(self, action, version, event):
        """Every way the event breaks this schema, as ``{"instancePath", "message"}`` items."""
        problems = []
        allowed = ", ".join(self.target_types)
        present = set()
        for index, target in enumerate(event["targets"]):
            kind = target["type"]
            present.add(kind)
            if kind not in self.target_types:
                problems.append(
                    _at(
                        f"/targets/{index}/type",
                        f"target type '{kind}' is not allowed for event '{action}', version "
                        f"'{version}'; allowed: {allowed}",
                    )
                )
            elif kind in self.targets:
                problems.extend(
                    _json_schema_problems(
                        self.targets[kind],
                        target.get("metadata") or {},
                        f"/targets/{index}/metadata",
                    )
                )
        for kind in self.target_types:
            if kind not in present:
                problems.append(
                    _at(
                        "/targets",
                        f"event '{action}', version '{version}' needs at least one target "
                        f"of type '{kind}'",
                    )
                )
        if self.actor is not None:
            problems.extend(
                _json_schema_problems(
                    self.actor, event["actor"].get("metadata") or {}, "/actor/metadata"
                )
            )
        if self.metadata is not None:
            problems.extend(
                _json_schema_problems(self.metadata, event.get("metadata") or {}, "/metadata")
            )
        return problems


def _validator(schema):
    return Draft202012Validator(schema) if schema else None


def _at(path, message):
    return {"instancePath": path, "message": message}


def _json_schema_problems(validator, instance, base):
    return [
        _at(base + "".join(f"/{part}" for part in error.absolute_path), error.message)
        for error in validator.iter_errors(instance)
    ]


class SchemaCache:
    """Compiled schemas by (organization, action, version). Versions never change, so an
    entry never goes stale; only the least recently used are dropped when it is full."""

    def __init__(self, size=4096):
        self.size = size
        self.entries = OrderedDict()
        self.lock = Lock()

    def get(self, org_id, action, version):
        """The compiled schema, compiled on first use; ``None`` if not configured."""
        key = (org_id, action, version)
        with self.lock:
            compiled = self.entries.get(key)
            if compiled is not None:
                self.entries.move_to_end(key)
                return compiled
        row = db.session.scalar(
            select(SchemaVersion.definition)
            .join(Action)
            .where(
                Action.organization_id == org_id,
                Action.name == action,
                SchemaVersion.version == version,
            )
        )
        if row is None:
            return None  # not cached: it may be configured a moment from now
        compiled = CompiledSchema.build(json.loads(row))
        with self.lock:
            self.entries[key] = compiled
            if len(self.entries) > self.size:
                self.entries.popitem(last=False)
        return compiled


schema_cache = SchemaCache()


def event_problems(org_id, event):
    """Every schema rule the event breaks (``[]`` when it may be stored)."""
    action, version = event["action"], event.get("version") or 1
    compiled = schema_cache.get(org_id, action, version)
    if compiled is None:
        return [_at("/action", f"event '{action}', version '{version}' has not been configured")]
    return compiled.problems(action, version, event)

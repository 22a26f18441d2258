"""The verbs of schemas: define versions of an action, list them, check events against them.

The API and the dashboard forms both call ``create_schema``, so a rule can never differ
between the two doors.
"""

import json
from collections import OrderedDict
from dataclasses import dataclass, field
from threading import Lock

from jsonschema import Draft202012Validator
from sqlalchemy import select

from app.extensions import db
from app.schemas.definition import check_definition
from app.schemas.models import Action, SchemaVersion
from app.service_errors import ServiceError
from app.timestamps import utcnow


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


def create_schema(org, action_name, body, created_by=None):
    """Add a schema version for an action (creating the action if new).

    A definition identical to the latest version returns that version. Returns
    ``(version, created)``; raises ``InvalidDefinition`` listing every problem.
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
    return version, True


def actions_of(org_id):
    """A query of the organization's actions (the caller orders and pages it)."""
    return select(Action).where(Action.organization_id == org_id)


def versions_of(action):
    """A query of an action's schema versions."""
    return select(SchemaVersion).where(SchemaVersion.action_id == action.id)


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

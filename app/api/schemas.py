"""Actions and their schema versions: create, list."""

import json

from flask import g, request
from sqlalchemy.exc import IntegrityError

from app import database
from app.api.blueprint import bp, json_body, key_organization
from app.api.errors import ApiError
from app.api.pagination import page
from app.extensions import db
from app.schemas import services
from app.schemas.models import Action, SchemaVersion
from app.timestamps import isoformat
from app.trail import services as trail


def schema_json(version):
    """An ``audit_log_schema`` object."""
    definition = json.loads(version.definition)
    body = {
        "object": "audit_log_schema",
        "version": version.version,
        "targets": definition["targets"],
    }
    if "actor" in definition:
        body["actor"] = definition["actor"]
    if "metadata" in definition:
        body["metadata"] = definition["metadata"]
    body["created_at"] = isoformat(version.created_at)
    return body


def action_json(action):
    """An ``audit_log_action`` object, with its latest schema."""
    return {
        "object": "audit_log_action",
        "name": action.name,
        "schema": schema_json(action.latest),
        "created_at": isoformat(action.created_at),
        "updated_at": isoformat(action.updated_at),
    }


@bp.post("/audit_logs/actions/<action>/schemas")
def create_schema(action):
    """Create the next schema version of an action (or return the latest if identical)."""
    body = json_body()
    actor = trail.api_key_actor(g.api_key_id, g.api_key_name)
    with database.writes():
        for attempt in range(2):
            try:
                with db.session.begin_nested():
                    version, created = services.create_schema(
                        key_organization(),
                        action,
                        body,
                        actor=actor,
                        created_by=f"key:{g.api_key_id}",
                    )
                break
            except services.InvalidDefinition as error:
                raise ApiError(
                    422, "Validation failed.", "validation_failed", error.problems
                ) from error
            except IntegrityError:
                # A concurrent request took this version number: read again, retry once.
                if attempt:
                    raise
    return schema_json(version), 201 if created else 200


@bp.get("/audit_logs/actions")
def list_actions():
    """The organization's actions, each with its latest schema."""
    return page(services.actions_of(g.api_org_id), Action.id, request.args, action_json)


@bp.get("/audit_logs/actions/<action>/schemas")
def list_schemas(action):
    """Every schema version of one action."""
    found = services.get_action(g.api_org_id, action)
    if found is None:
        raise ApiError(404, f"Action not found: '{action}'.", "not_found")
    return page(services.versions_of(found), SchemaVersion.version, request.args, schema_json)

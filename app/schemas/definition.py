"""What a schema definition may contain (the contract's 422 rules for schemas)."""

import re
from typing import Annotated, Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.events.shape import ACTION_PATTERN, check_shape

METADATA_PROPERTY_TYPES = ("string", "number", "boolean")

STRICT = ConfigDict(extra="forbid", strict=True)


class TargetDefinition(BaseModel):
    """A target type the action takes, with an optional metadata JSON Schema."""

    model_config = STRICT
    type: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    metadata: dict[str, Any] | None = None


class ActorDefinition(BaseModel):
    """The actor's metadata JSON Schema."""

    model_config = STRICT
    metadata: dict[str, Any]


class SchemaDefinition(BaseModel):
    """The body of ``POST /audit_logs/actions/{action}/schemas``."""

    model_config = STRICT
    targets: Annotated[list[TargetDefinition], Field(min_length=1, max_length=50)]
    actor: ActorDefinition | None = None
    metadata: dict[str, Any] | None = None


def metadata_schema_problems(schema, field):
    """Problems with one metadata JSON Schema: an object schema whose properties are simple."""
    problems = []
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as error:
        return [
            _problem(
                field, "invalid_schema", f"{field} is not a valid JSON Schema: {error.message}."
            )
        ]
    if schema.get("type") != "object":
        problems.append(
            _problem(f"{field}.type", "invalid_schema", f'{field}.type must be "object".')
        )
    properties = schema.get("properties", {})
    for name, spec in properties.items():
        kind = spec.get("type") if isinstance(spec, dict) else None
        if kind not in METADATA_PROPERTY_TYPES:
            problems.append(
                _problem(
                    f"{field}.properties.{name}.type",
                    "invalid_schema",
                    f"{field}.properties.{name}.type must be one of "
                    f"{', '.join(METADATA_PROPERTY_TYPES)} (metadata values are never nested).",
                )
            )
    for name in schema.get("required", []):
        if name not in properties:
            problems.append(
                _problem(
                    f"{field}.required",
                    "invalid_schema",
                    f"{field}.required names '{name}', which is not among its properties.",
                )
            )
    return problems


def _problem(field, code, message):
    return {"field": field, "code": code, "message": message}


def check_definition(action, body):
    """Validate an action name and a schema definition.

    Returns ``(definition, [])`` with the definition as a plain dict (only the keys that
    were given), or ``(None, problems)``.
    """
    problems = []
    if not isinstance(action, str) or not _matches_action(action):
        problems.append(
            _problem(
                "action",
                "invalid_format",
                "The action name must be 1 to 128 letters, digits or . _ : - "
                "(e.g. user.signed_in).",
            )
        )
    parsed, shape_problems = check_shape(SchemaDefinition, body)
    problems.extend(shape_problems)
    if parsed is None:
        return None, problems
    seen = set()
    for index, target in enumerate(parsed.targets):
        if target.type in seen:
            problems.append(
                _problem(
                    f"targets.{index}.type",
                    "duplicate",
                    f"targets.{index}.type '{target.type}' is listed twice; list each type once.",
                )
            )
        seen.add(target.type)
        if target.metadata is not None:
            problems.extend(metadata_schema_problems(target.metadata, f"targets.{index}.metadata"))
    if parsed.actor is not None:
        problems.extend(metadata_schema_problems(parsed.actor.metadata, "actor.metadata"))
    if parsed.metadata is not None:
        problems.extend(metadata_schema_problems(parsed.metadata, "metadata"))
    if problems:
        return None, problems
    return parsed.model_dump(exclude_none=True), []


def _matches_action(name):
    return re.fullmatch(ACTION_PATTERN, name) is not None

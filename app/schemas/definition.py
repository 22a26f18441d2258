"""What a schema definition may contain (the contract's 422 rules for schemas)."""

import re
from typing import Annotated, Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.ledger.shape import ACTION_PATTERN, METADATA_KEY_PATTERN, check_shape

METADATA_PROPERTY_TYPES = ("string", "number", "boolean")
# The built-in dashboard actions (app/trail/services.py): no schema may claim them, so the
# API, which refuses actions without one, cannot forge them.
RESERVED_PREFIX = "dashboard."

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
        if re.fullmatch(METADATA_KEY_PATTERN, name) is None:
            # Events could never send this key (their metadata keys follow this pattern).
            problems.append(
                _problem(
                    f"{field}.properties.{name}",
                    "invalid_key",
                    f"{field}.properties names '{name}', which is not a valid metadata key: "
                    "use 1 to 40 letters, digits, _ or -.",
                )
            )
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
    elif action.lower().startswith(RESERVED_PREFIX):  # no look-alikes either
        problems.append(
            _problem(
                "action",
                "reserved",
                f"Action names starting with '{RESERVED_PREFIX}' are reserved for the "
                "dashboard's own events; choose another name.",
            )
        )
    parsed, shape_problems = check_shape(SchemaDefinition, body)
    problems.extend(shape_problems)
    # Checked on the body as sent, so that a shape problem elsewhere (a blank target
    # type, say) does not hide these: every problem is reported at once.
    problems.extend(_content_problems(body))
    if problems:
        return None, problems
    return parsed.model_dump(exclude_none=True), []


def _content_problems(body):
    """Duplicate target types and bad metadata schemas, wherever the body is well-formed."""
    if not isinstance(body, dict):
        return []
    problems = []
    targets = body.get("targets")
    seen = set()
    for index, target in enumerate(targets if isinstance(targets, list) else []):
        if not isinstance(target, dict):
            continue
        kind = target.get("type")
        if isinstance(kind, str) and kind:
            if kind in seen:
                problems.append(
                    _problem(
                        f"targets.{index}.type",
                        "duplicate",
                        f"targets.{index}.type '{kind}' is listed twice; list each type once.",
                    )
                )
            seen.add(kind)
        if isinstance(target.get("metadata"), dict):
            problems.extend(
                metadata_schema_problems(target["metadata"], f"targets.{index}.metadata")
            )
    actor = body.get("actor")
    if isinstance(actor, dict) and isinstance(actor.get("metadata"), dict):
        problems.extend(metadata_schema_problems(actor["metadata"], "actor.metadata"))
    if isinstance(body.get("metadata"), dict):
        problems.extend(metadata_schema_problems(body["metadata"], "metadata"))
    return problems


def _matches_action(name):
    return re.fullmatch(ACTION_PATTERN, name) is not None

"""The shape every event must have (the contract's 422 rules), checked with pydantic.

Problems are reported all at once as ``{"field", "code", "message"}`` items, ``field``
being the dotted path in the request body (``event.actor.id``, ``events.3.targets.0.type``).
"""

import math
from datetime import datetime
from typing import Annotated, Any, NotRequired

from pydantic import (
    ConfigDict,
    Field,
    PlainValidator,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
    with_config,
)
from pydantic_core import PydanticCustomError
from typing_extensions import TypedDict

from app.timestamps import BOUNDS_TEXT, parse_bounded

ACTION_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"
METADATA_KEY_PATTERN = r"^[A-Za-z0-9_-]{1,40}$"
MAX_METADATA_KEYS = 50
MAX_METADATA_STRING = 500
MAX_TARGETS = 50
MAX_BATCH = 1000


def metadata_value(value):
    """A metadata value: a string (at most 500 characters), a number or a boolean."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise PydanticCustomError("custom:invalid_type", "must be a finite number")
        return value
    if isinstance(value, str):
        if len(value) > MAX_METADATA_STRING:
            raise PydanticCustomError(
                "custom:too_long", "must be at most {max} characters", {"max": MAX_METADATA_STRING}
            )
        return value
    raise PydanticCustomError(
        "custom:invalid_type", "must be a string, number or boolean (no objects, arrays or null)"
    )


def occurred_at(value):
    """An ISO 8601 timestamp with a time zone offset or Z, returned as aware UTC."""
    if not isinstance(value, str):
        raise PydanticCustomError("custom:invalid_type", "must be an ISO 8601 timestamp string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        parsed = None
    if parsed is None or "T" not in value.upper():
        raise PydanticCustomError(
            "custom:invalid_format",
            "must be an ISO 8601 date and time, such as 2022-08-29T19:47:52.336Z",
        )
    if parsed.tzinfo is None:
        raise PydanticCustomError(
            "custom:invalid_format",
            "must include a time zone offset or Z, such as 2022-08-29T19:47:52Z",
        )
    try:
        return parse_bounded(lambda _: parsed, value)
    except ValueError:
        raise PydanticCustomError("custom:out_of_range", f"must be {BOUNDS_TEXT}") from None


MetadataKey = Annotated[str, StringConstraints(pattern=METADATA_KEY_PATTERN)]
Metadata = Annotated[
    dict[
        MetadataKey,
        Annotated[
            Any,
            PlainValidator(metadata_value),
            WithJsonSchema(
                {"type": ["string", "number", "boolean"], "maxLength": MAX_METADATA_STRING}
            ),
        ],
    ],
    Field(max_length=MAX_METADATA_KEYS),
]
Identifier = Annotated[str, StringConstraints(min_length=1, max_length=256), Field(strict=True)]
Name = Annotated[str, StringConstraints(max_length=512), Field(strict=True)]

STRICT = ConfigDict(extra="forbid", strict=True)

# Events are TypedDicts, not models: validated into plain dicts, with no model objects to
# build per event, a batch is checked much faster (figures: docs/performance.md). Each has
# its adapter.


@with_config(STRICT)
class Actor(TypedDict):
    """Who did it."""

    id: Identifier
    type: Identifier
    name: NotRequired[Name | None]
    metadata: NotRequired[Metadata | None]


@with_config(STRICT)
class Target(Actor):
    """What it was done to."""


@with_config(STRICT)
class Context(TypedDict):
    """Where it came from."""

    location: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    user_agent: NotRequired[Annotated[str, StringConstraints(max_length=1024)] | None]


@with_config(STRICT)
class EventShape(TypedDict):
    """One event as the API accepts it."""

    action: Annotated[str, StringConstraints(pattern=ACTION_PATTERN)]
    occurred_at: Annotated[
        Any, PlainValidator(occurred_at), WithJsonSchema({"type": "string", "format": "date-time"})
    ]
    version: NotRequired[Annotated[int, Field(ge=1, le=2_147_483_647)] | None]
    actor: Actor
    targets: Annotated[list[Target], Field(max_length=MAX_TARGETS)]
    context: Context
    metadata: NotRequired[Metadata | None]


@with_config(STRICT)
class SingleRequest(TypedDict):
    """The body of ``POST /audit_logs/events``."""

    organization_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    event: EventShape


@with_config(STRICT)
class BatchRequest(TypedDict):
    """The body of ``POST /audit_logs/events/batch``."""

    organization_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    events: Annotated[list[EventShape], Field(min_length=1, max_length=MAX_BATCH)]


EVENT = TypeAdapter(EventShape)
SINGLE = TypeAdapter(SingleRequest)
BATCH = TypeAdapter(BatchRequest)


def parse_event(raw):
    """An accepted event's validated shape (``ValidationError`` if it has none)."""
    return EVENT.validate_python(raw)


PATTERN_MESSAGES = {
    ACTION_PATTERN: "must be 1 to 128 letters, digits or . _ : - (for example user.signed_in)",
    METADATA_KEY_PATTERN: "keys must be 1 to 40 letters, digits, _ or -",
}

TYPE_NAMES = {
    "string_type": "a string",
    "int_type": "an integer",
    "model_type": "an object",
    "dict_type": "an object",
    "list_type": "a list",
    "model_attributes_type": "an object",
}

# pydantic's error type -> (the contract's code, what to say; {placeholders} from its context).
PLAIN_ERRORS = {
    "missing": ("required", "is required"),
    "extra_forbidden": ("unknown_field", "is not a known field"),
    "string_too_long": ("too_long", "must be at most {max_length} characters"),
    "string_too_short": ("required", "must not be empty"),
    "too_short": ("too_few", "must have at least {min_length} item"),
    "greater_than_equal": ("out_of_range", "must be a positive integer"),
    "less_than_equal": ("out_of_range", "must be a positive integer"),
}


def field_path(loc):
    """pydantic's location as the dotted field path (a bad metadata key names the key)."""
    return ".".join(str(part) for part in loc if part != "[key]")


def describe(error):
    """One pydantic error as the contract's ``{"field", "code", "message"}`` item."""
    kind, context, loc = error["type"], error.get("ctx") or {}, error["loc"]
    if kind.startswith("custom:"):
        code, detail = kind.removeprefix("custom:"), error["msg"]
    elif kind in TYPE_NAMES:
        code, detail = "invalid_type", f"must be {TYPE_NAMES[kind]}"
    elif kind == "string_pattern_mismatch":
        code = "invalid_format"
        detail = PATTERN_MESSAGES.get(context.get("pattern"), "has an invalid format")
    elif kind == "too_long":  # a list or a mapping with too many items
        noun = "keys" if isinstance(error.get("input"), dict) else "items"
        code, detail = "too_many", f"must have at most {context['max_length']} {noun}"
    elif kind in PLAIN_ERRORS:
        code, template = PLAIN_ERRORS[kind]
        detail = template.format(**context)
    else:
        code, detail = kind, error["msg"]
    path = field_path(loc)
    if loc and loc[-1] == "[key]":  # a bad metadata key: "event.metadata keys must be ..."
        return {"field": path, "code": code, "message": f"{field_path(loc[:-2])} {detail}."}
    return {"field": path, "code": code, "message": f"{path or 'The body'} {detail}."}


def check_shape(model, body):
    """Validate ``body`` against ``model`` (a pydantic model or a ``TypeAdapter``);
    returns ``(parsed, [])`` or ``(None, errors)``."""
    validate = model.validate_python if isinstance(model, TypeAdapter) else model.model_validate
    try:
        return validate(body), []
    except ValidationError as exc:
        return None, [describe(error) for error in exc.errors(include_url=False)]

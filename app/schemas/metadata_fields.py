"""Metadata JSON Schemas as rows of key, type and required: what the forms edit.

A schema "is simple" when it round-trips exactly through rows; anything richer (enums,
patterns, ``additionalProperties``...) is edited as JSON instead, so that opening and
saving a schema never changes it behind the admin's back.
"""

from dataclasses import dataclass

from app.schemas.definition import METADATA_PROPERTY_TYPES


@dataclass(frozen=True)
class MetadataField:
    """One metadata key an event must (or may) carry, and the type of its value."""

    key: str
    type: str = "string"
    required: bool = False


def schema_from_fields(fields):
    """The JSON Schema for these rows, or ``None`` when there are none (nothing validated)."""
    if not fields:
        return None
    schema = {
        "type": "object",
        "properties": {field.key: {"type": field.type} for field in fields},
    }
    # Sorted, like the stored definition's keys, so an unchanged form stores no new version.
    required = sorted(field.key for field in fields if field.required)
    if required:
        schema["required"] = required
    return schema


def fields_from_schema(schema):
    """The rows of a simple schema, in key order; ``None`` if it is not simple."""
    if not isinstance(schema, dict) or not isinstance(schema.get("properties"), dict):
        return None
    required = schema.get("required", [])
    if not isinstance(required, list):
        return None
    fields = []
    for key, spec in sorted(schema["properties"].items()):
        if not isinstance(spec, dict) or spec.get("type") not in METADATA_PROPERTY_TYPES:
            return None
        fields.append(MetadataField(key, spec["type"], key in required))
    if schema_from_fields(fields) != schema:
        return None
    return fields

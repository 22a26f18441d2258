"""Ready-to-run examples that send a valid event for a schema version: curl and the SDK."""

import json
import math
import shlex
from dataclasses import dataclass, field

from app.ledger.shape import EVENT, check_shape
from app.schemas.services import CompiledSchema

API_KEY_VARIABLE = "AUDIT_LOG_API_KEY"

SAMPLE_FORMATS = {
    "date-time": "2024-01-01T12:00:00Z",
    "date": "2024-01-01",
    "time": "12:00:00Z",
    "email": "jane@example.com",
    "idn-email": "jane@example.com",
    "hostname": "example.com",
    "idn-hostname": "example.com",
    "ipv4": "203.0.113.7",
    "ipv6": "2001:db8::7",
    "uri": "https://example.com/",
    "iri": "https://example.com/",
    "uri-reference": "https://example.com/",
    "uuid": "123e4567-e89b-42d3-a456-426614174000",
}


@dataclass
class Example:
    """A sample event for one version, the code that sends it, and any rule it breaks.

    ``problems`` is empty unless the schema has rules the sample values cannot guess
    (a ``pattern``, say): the page then says what to adjust before running it.
    """

    version: int
    event: dict
    curl: str
    python: str
    problems: list = field(default_factory=list)


def build_example(base_url, org_id, action_name, version, definition, occurred_at):
    """The examples for ``definition`` (version ``version`` of ``action_name``)."""
    event = sample_event(action_name, version, definition, occurred_at)
    _parsed, shape_problems = check_shape(EVENT, event)
    schema_problems = CompiledSchema.build(definition).problems(action_name, version, event)
    problems = [p["message"] for p in shape_problems] + [
        f"{p['instancePath']}: {p['message']}" for p in schema_problems
    ]
    return Example(
        version=version,
        event=event,
        curl=curl_command(base_url, org_id, event),
        python=python_snippet(base_url, org_id, event),
        problems=problems,
    )


def sample_event(action_name, version, definition, occurred_at):
    """An event that the schema accepts, with sample values of the declared types."""
    actor = {"id": "user_123", "type": "user", "name": "Jane Doe"}
    actor_schema = definition.get("actor", {}).get("metadata")
    if actor_schema:
        actor["metadata"] = sample_metadata(actor_schema)
    targets = []
    for target in definition["targets"]:
        sample = {"id": f"{target['type'][:200]}_123", "type": target["type"]}
        if target.get("metadata"):
            sample["metadata"] = sample_metadata(target["metadata"])
        targets.append(sample)
    event = {
        "action": action_name,
        "version": version,
        "occurred_at": occurred_at,
        "actor": actor,
        "targets": targets,
        "context": {"location": "203.0.113.7", "user_agent": "Mozilla/5.0"},
    }
    if definition.get("metadata"):
        event["metadata"] = sample_metadata(definition["metadata"])
    return event


def sample_metadata(schema):
    """A value for every property the schema declares, required or not."""
    return {key: sample_value(spec) for key, spec in schema.get("properties", {}).items()}


def sample_value(spec):
    """A value that satisfies one property's schema, as far as simple rules allow."""
    for keyword in ("const", "default"):
        if keyword in spec:
            return spec[keyword]
    for keyword in ("enum", "examples"):
        if spec.get(keyword):
            return spec[keyword][0]
    kind = spec.get("type")
    if kind == "boolean":
        return True
    if kind == "number":
        return sample_number(spec)
    return sample_string(spec)


def sample_number(spec):
    """A number within the schema's bounds (and a multiple of ``multipleOf``)."""
    value = 1
    if "minimum" in spec:
        value = max(value, spec["minimum"])
    if "exclusiveMinimum" in spec:
        value = max(value, spec["exclusiveMinimum"] + 1)
    step = spec.get("multipleOf")
    if step:
        value = math.ceil(value / step) * step
    if "maximum" in spec:
        value = min(value, spec["maximum"])
    if "exclusiveMaximum" in spec:
        value = min(value, spec["exclusiveMaximum"] - 1)
    return value


def sample_string(spec):
    """A string of the schema's format and length."""
    value = SAMPLE_FORMATS.get(spec.get("format"), "example")
    minimum, maximum = spec.get("minLength", 0), spec.get("maxLength")
    if len(value) < minimum:
        value = value + "x" * (minimum - len(value))
    if maximum is not None:
        value = value[:maximum]
    return value


def request_body(org_id, event):
    """The JSON body of ``POST /audit_logs/events``."""
    return compact_json({"organization_id": org_id, "event": event})


def compact_json(value, indent=0, used=0, width=76):
    """JSON for people: an object or list stays on one line when it fits, else one item
    per line (``used`` is how much of the first line a key already takes)."""
    flat = json.dumps(value, ensure_ascii=False)
    if not isinstance(value, dict | list) or not value or indent + used + len(flat) <= width:
        return flat
    inner = " " * (indent + 2)
    if isinstance(value, dict):
        items = []
        for key, item in value.items():
            head = json.dumps(key, ensure_ascii=False) + ": "
            items.append(inner + head + compact_json(item, indent + 2, len(head), width))
        opening, closing = "{", "}"
    else:
        items = [inner + compact_json(item, indent + 2, 0, width) for item in value]
        opening, closing = "[", "]"
    return opening + "\n" + ",\n".join(items) + "\n" + " " * indent + closing


def curl_command(base_url, org_id, event):
    """A curl command; the body goes through a quoted here-document, so no quote can break it."""
    return "\n".join(
        [
            f"curl -X POST {shlex.quote(base_url + 'audit_logs/events')} \\",
            f'  -H "Authorization: Bearer ${API_KEY_VARIABLE}" \\',
            '  -H "Content-Type: application/json" \\',
            "  --data-binary @- <<'JSON'",
            request_body(org_id, event),
            "JSON",
        ]
    )


def python_snippet(base_url, org_id, event):
    """The same event sent with the official ``workos`` SDK pointed at this server."""
    actor, context = event["actor"], event["context"]
    lines = [
        "import os",
        "from datetime import datetime, timezone",
        "",
        "from workos import WorkOSClient",
        "from workos.audit_logs import (",
        "    AuditLogEvent,",
        "    AuditLogEventActor,",
        "    AuditLogEventContext,",
        "    AuditLogEventTarget,",
        ")",
        "",
        "client = WorkOSClient(",
        f'    api_key=os.environ["{API_KEY_VARIABLE}"],  # sk_...',
        '    client_id="unused",',
        f"    base_url={literal(base_url)},",
        ")",
        "",
        "client.audit_logs.create_event(",
        f"    organization_id={literal(org_id)},",
        "    event=AuditLogEvent(",
        f"        action={literal(event['action'])},",
        f"        version={event['version']},",
        "        occurred_at=datetime.now(timezone.utc),",
        f"        actor=AuditLogEventActor({arguments(actor)}),",
        "        targets=[",
        *[f"            AuditLogEventTarget({arguments(t)})," for t in event["targets"]],
        "        ],",
        f"        context=AuditLogEventContext({arguments(context)}),",
    ]
    if "metadata" in event:
        lines.append(f"        metadata={literal(event['metadata'])},")
    lines += ["    ),", ")", 'print("Event accepted.")']
    return "\n".join(lines)


def arguments(values):
    """Keyword arguments for a constructor: ``id="user_123", type="user"``."""
    return ", ".join(f"{name}={literal(value)}" for name, value in values.items())


def literal(value):
    """A Python literal for a JSON value (strings in double quotes, like the rest)."""
    if isinstance(value, bool):
        return "True" if value else "False"
    if value is None:
        return "None"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{literal(k)}: {literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    if isinstance(value, str):
        return json.dumps(value)
    return repr(value)

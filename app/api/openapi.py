"""``GET /openapi.json``: an OpenAPI 3.1 document of every API endpoint.

Request bodies of events come from the same pydantic models that validate them, so the
document cannot drift from what the server enforces.
"""

from flask import current_app, request
from pydantic import TypeAdapter

from app.api.blueprint import bp
from app.exports.shape import ExportRequest
from app.ledger.shape import BATCH, SINGLE
from app.portal.shape import LinkRequest, RevokeRequest
from app.retention.services import ALLOWED_DAYS, PERIODS
from app.schemas.definition import SchemaDefinition


def ref(name):
    """A reference to a component schema."""
    return {"$ref": f"#/components/schemas/{name}"}


def json_content(schema):
    """A JSON media type entry."""
    return {"application/json": {"schema": schema}}


def json_response(description, schema):
    """A documented response with a JSON body."""
    return {"description": description, "content": json_content(schema)}


def error_response(description):
    """A documented error response."""
    return json_response(description, ref("Error"))


COMMON_ERRORS = {
    "401": error_response("Missing, malformed, unknown or revoked API key."),
    "429": {
        "description": "Rate limited (per API key).",
        "headers": {
            "Retry-After": {"schema": {"type": "string"}, "description": "Seconds to wait."}
        },
        "content": json_content(ref("Error")),
    },
}
BODY_ERRORS = {
    "400": error_response("Malformed JSON, or an event that breaks its schema."),
    "413": error_response("Body over the size limit (1 MiB by default)."),
    "415": error_response("The body is not sent as application/json."),
    "422": error_response("The request's shape is invalid; one item per problem."),
}
TIMESTAMP = {"type": "string", "format": "date-time", "description": "UTC, milliseconds, Z suffix."}
LIST_PARAMETERS = [
    {
        "name": "limit",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 10},
    },
    {
        "name": "before",
        "in": "query",
        "schema": {"type": "string"},
        "description": "Opaque cursor.",
    },
    {"name": "after", "in": "query", "schema": {"type": "string"}, "description": "Opaque cursor."},
    {
        "name": "order",
        "in": "query",
        "schema": {"type": "string", "enum": ["desc", "asc", "normal"], "default": "desc"},
    },
]


def list_parameter(name, description, item=None):
    """A list in the query: repeated (``name=a&name=b``); ``name[]=a`` is accepted too."""
    return {
        "name": name,
        "in": "query",
        "schema": {
            "type": "array",
            "items": item or {"type": "string", "maxLength": 256},
            "maxItems": 50,
        },
        "style": "form",
        "explode": True,
        "description": description,
    }


READ_PARAMETERS = [
    {
        "name": name,
        "in": "query",
        "schema": {"type": "string", "format": "date-time"},
        "description": description,
    }
    for name, description in (
        ("range_start", "ISO 8601, inclusive (occurred_at); without an offset, UTC."),
        ("range_end", "ISO 8601, exclusive; later than range_start."),
    )
] + [
    list_parameter(
        "actions",
        "Any of these actions.",
        {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,128}$"},
    ),
    list_parameter("actor_ids", "Any of these actor ids exactly."),
    list_parameter("actor_names", "Any of these actor names exactly."),
    list_parameter("targets", "A target of any of these types."),
    {
        "name": "q",
        "in": "query",
        "schema": {"type": "string", "minLength": 3, "maxLength": 256},
        "description": "Free text: a substring of the action, the actor's name or a target's name.",
    },
]
EVENT_ID = {"name": "event_id", "in": "path", "required": True, "schema": {"type": "string"}}
ORG_ID = {"name": "org_id", "in": "path", "required": True, "schema": {"type": "string"}}
EXPORT_ID = {"name": "export_id", "in": "path", "required": True, "schema": {"type": "string"}}
ACTION = {"name": "action", "in": "path", "required": True, "schema": {"type": "string"}}
NOT_FOUND = {"404": error_response("Not found, or another organization's.")}
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "maxLength": 255},
    "description": "Repeats within 24 hours replay the first answer; another body gets 409.",
}


def list_of(item):
    """The contract's list body."""
    cursor = {"type": ["string", "null"]}
    return {
        "type": "object",
        "required": ["object", "data", "list_metadata"],
        "properties": {
            "object": {"const": "list"},
            "data": {"type": "array", "items": item},
            "list_metadata": {
                "type": "object",
                "required": ["before", "after"],
                "properties": {"before": cursor, "after": cursor},
            },
        },
    }


def page_responses(item):
    """The responses of a list endpoint: a page of ``item``, or bad list parameters."""
    return {
        "200": json_response("A page.", list_of(item)),
        "422": error_response("Invalid list parameters."),
    }


def component_schemas():
    """Schemas generated from the validating models, plus the response objects."""
    _, generated = TypeAdapter.json_schemas(
        [
            ("SingleRequest", "validation", SINGLE),
            ("BatchRequest", "validation", BATCH),
            ("SchemaDefinition", "validation", TypeAdapter(SchemaDefinition)),
            ("ExportRequest", "validation", TypeAdapter(ExportRequest)),
            ("PortalLinkRequest", "validation", TypeAdapter(LinkRequest)),
            ("PortalRevokeRequest", "validation", TypeAdapter(RevokeRequest)),
        ],
        ref_template="#/components/schemas/{model}",
    )
    schemas = generated.get("$defs", {})
    schemas["EventRecord"] = {
        "type": "object",
        "description": "The event as accepted, with what the service added: the NDJSON "
        "export's record (docs/integrity.md checks it).",
        "required": [
            "id",
            "action",
            "occurred_at",
            "actor",
            "targets",
            "context",
            "received_at",
            "organization_id",
            "seq",
            "prev_hash",
            "hash",
        ],
        "properties": {
            "id": {"type": "string"},
            "action": {"type": "string"},
            "version": {"type": "integer"},
            "occurred_at": TIMESTAMP,
            "received_at": {
                "type": "string",
                "format": "date-time",
                "description": "UTC, microseconds.",
            },
            "actor": {"type": "object"},
            "targets": {"type": "array", "items": {"type": "object"}},
            "context": {"type": "object"},
            "metadata": {"type": "object"},
            "organization_id": {"type": "string"},
            "seq": {"type": "integer", "minimum": 1},
            "prev_hash": {"type": "string"},
            "hash": {"type": "string"},
        },
    }
    schemas["Error"] = {
        "type": "object",
        "required": ["message"],
        "properties": {
            "message": {"type": "string"},
            "code": {"type": "string"},
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["message"],
                    "properties": {
                        "message": {"type": "string"},
                        "field": {"type": "string"},
                        "instancePath": {"type": "string"},
                        "code": {"type": "string"},
                    },
                },
            },
        },
    }
    schemas["AuditLogSchema"] = {
        "type": "object",
        "required": ["object", "version", "targets", "created_at"],
        "properties": {
            "object": {"const": "audit_log_schema"},
            "version": {"type": "integer", "minimum": 1},
            "targets": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["type"],
                    "properties": {"type": {"type": "string"}, "metadata": {"type": "object"}},
                },
            },
            "actor": {
                "type": "object",
                "required": ["metadata"],
                "properties": {"metadata": {"type": "object"}},
            },
            "metadata": {"type": "object"},
            "created_at": TIMESTAMP,
        },
    }
    schemas["AuditLogAction"] = {
        "type": "object",
        "required": ["object", "name", "schema", "created_at", "updated_at"],
        "properties": {
            "object": {"const": "audit_log_action"},
            "name": {"type": "string"},
            "schema": ref("AuditLogSchema"),
            "created_at": TIMESTAMP,
            "updated_at": TIMESTAMP,
        },
    }
    schemas["AuditLogExport"] = {
        "type": "object",
        "required": ["object", "id", "state", "url", "created_at", "updated_at"],
        "properties": {
            "object": {"const": "audit_log_export"},
            "id": {"type": "string"},
            "state": {"type": "string", "enum": ["pending", "ready", "error", "expired"]},
            "url": {
                "type": ["string", "null"],
                "description": "When ready: downloads the file without an API key for 10 "
                "minutes; each GET issues a fresh one.",
            },
            "created_at": TIMESTAMP,
            "updated_at": TIMESTAMP,
        },
    }
    schemas["Retention"] = {
        "type": "object",
        "required": ["retention_period_in_days"],
        "properties": {"retention_period_in_days": {"type": ["integer", "null"]}},
    }
    schemas["RetentionUpdate"] = {
        "oneOf": [
            {
                "type": "object",
                "required": ["retention_period_in_days"],
                "additionalProperties": False,
                "properties": {
                    "retention_period_in_days": {"type": "integer", "enum": ALLOWED_DAYS}
                },
            },
            {
                "type": "object",
                "required": ["retention_period"],
                "additionalProperties": False,
                "properties": {"retention_period": {"type": "string", "enum": list(PERIODS)}},
            },
        ]
    }
    return schemas


def operation(summary, responses, body=None, parameters=(), errors=COMMON_ERRORS):
    """One operation with its documented responses."""
    op = {"summary": summary, "parameters": list(parameters), "responses": {**responses, **errors}}
    if body is not None:
        op["requestBody"] = {"required": True, "content": json_content(body)}
        op["responses"].update(BODY_ERRORS)
    return op


def ingest_operation(summary, body, stored):
    """A POST that stores events: ``body`` in, ``stored`` out, repeatable with a key."""
    return operation(
        summary,
        {
            "200": json_response("Stored.", stored),
            **NOT_FOUND,
            "409": error_response("Idempotency-Key reused with a different body."),
        },
        body=ref(body),
        parameters=[IDEMPOTENCY_KEY],
    )


def document(server_url):
    """The whole OpenAPI document."""
    success = {
        "type": "object",
        "required": ["success"],
        "properties": {"success": {"const": True}},
    }
    batch_success = {
        "type": "object",
        "required": ["success", "count"],
        "properties": {"success": {"const": True}, "count": {"type": "integer"}},
    }
    configuration = {
        "type": "object",
        "required": ["organization_id", "retention_period_in_days", "state"],
        "properties": {
            "organization_id": {"type": "string"},
            # Never null here (typed SDKs need an integer): keeping forever reads 3650.
            "retention_period_in_days": {"type": "integer"},
            "state": {"type": "string", "enum": ["active", "inactive", "disabled"]},
        },
    }
    retention_paths = {
        "get": operation(
            "Get the retention period",
            {"200": json_response("The period.", ref("Retention")), **NOT_FOUND},
            parameters=[ORG_ID],
        ),
        "put": operation(
            "Set the retention period",
            {"200": json_response("The new period.", ref("Retention")), **NOT_FOUND},
            body=ref("RetentionUpdate"),
            parameters=[ORG_ID],
        ),
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Audit Log API",
            "version": "1.0.0",
            "description": "Wire-compatible with the WorkOS Audit Logs API. "
            "Authenticate with `Authorization: Bearer sk_...`.",
        },
        "servers": [{"url": server_url}],
        "security": [{"bearer": []}],
        "paths": {
            "/audit_logs/events": {
                "post": ingest_operation("Create an event", "SingleRequest", success),
                "get": {
                    **operation(
                        "List events (newest seq first by default), filtered as the viewer filters",
                        page_responses(ref("EventRecord")),
                        parameters=[*READ_PARAMETERS, *LIST_PARAMETERS],
                    ),
                    "description": "Pages follow `seq`, the order events entered the chain. "
                    "`order=asc` is a poll: its last page still carries an `after` cursor, "
                    "which later returns the events that came since.",
                },
            },
            "/audit_logs/events/{event_id}": {
                "get": operation(
                    "Get one event",
                    {"200": json_response("The event.", ref("EventRecord")), **NOT_FOUND},
                    parameters=[EVENT_ID],
                )
            },
            "/audit_logs/events/batch": {
                "post": ingest_operation(
                    "Create 1 to 1,000 events, all or none", "BatchRequest", batch_success
                )
            },
            "/audit_logs/actions": {
                "get": operation(
                    "List actions with their latest schema",
                    page_responses(ref("AuditLogAction")),
                    parameters=LIST_PARAMETERS,
                )
            },
            "/audit_logs/actions/{action}/schemas": {
                "get": operation(
                    "List an action's schema versions",
                    {**page_responses(ref("AuditLogSchema")), **NOT_FOUND},
                    parameters=[ACTION, *LIST_PARAMETERS],
                ),
                "post": operation(
                    "Create a schema version (or return the identical latest one)",
                    {
                        "200": json_response(
                            "Identical to the latest version.", ref("AuditLogSchema")
                        ),
                        "201": json_response("A new version.", ref("AuditLogSchema")),
                    },
                    body=ref("SchemaDefinition"),
                    parameters=[ACTION],
                ),
            },
            "/audit_logs/exports": {
                "post": operation(
                    "Start an export of events in a date range (CSV by default, or NDJSON)",
                    {
                        "201": json_response("The export, pending.", ref("AuditLogExport")),
                        **NOT_FOUND,
                    },
                    body=ref("ExportRequest"),
                )
            },
            "/audit_logs/exports/{export_id}": {
                "get": operation(
                    "Get an export (a ready one with a fresh signed download URL)",
                    {"200": json_response("The export.", ref("AuditLogExport")), **NOT_FOUND},
                    parameters=[EXPORT_ID],
                )
            },
            "/audit_logs/exports/{export_id}/download": {
                "get": {
                    "summary": "Download an export's file through its signed URL (no API key)",
                    "security": [],
                    "parameters": [
                        EXPORT_ID,
                        {
                            "name": "token",
                            "in": "query",
                            "required": True,
                            "schema": {"type": "string"},
                            "description": "The signature the export's url carries.",
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "The file: CSV (UTF-8 with BOM) or NDJSON.",
                            "content": {
                                "text/csv": {"schema": {"type": "string"}},
                                "application/x-ndjson": {"schema": {"type": "string"}},
                            },
                        },
                        "403": error_response(
                            "Altered or expired URL (10 minutes), or the export is not ready."
                        ),
                    },
                }
            },
            "/portal/generate_link": {
                "post": operation(
                    "Generate a single-use Admin Portal link (open within 5 minutes)",
                    {
                        "201": json_response(
                            "The link to send the person's browser to.",
                            {
                                "type": "object",
                                "required": ["link"],
                                "properties": {"link": {"type": "string", "format": "uri"}},
                            },
                        ),
                        **NOT_FOUND,
                    },
                    body=ref("PortalLinkRequest"),
                )
            },
            "/portal/revoke_link": {
                "post": operation(
                    "Revoke the links of an external_user_id, ending their portal sessions",
                    {
                        "204": {"description": "Revoked (also when there was nothing to revoke)."},
                        **NOT_FOUND,
                    },
                    body=ref("PortalRevokeRequest"),
                )
            },
            "/organizations/{org_id}/audit_logs_retention": retention_paths,
            "/organizations/{org_id}/audit_log_configuration": {
                "get": operation(
                    "Get the audit log configuration",
                    {
                        "200": json_response("The configuration.", configuration),
                        **NOT_FOUND,
                    },
                    parameters=[ORG_ID],
                )
            },
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": component_schemas(),
        },
    }


@bp.get("/openapi.json")
def openapi():
    """The OpenAPI document, with this server's address."""
    cache = current_app.extensions.setdefault("auditlog.openapi", {})
    server = request.host_url.rstrip("/")
    if server not in cache:
        cache[server] = document(server)
    return cache[server]

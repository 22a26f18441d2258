"""``GET /audit_logs/events`` and ``GET /audit_logs/events/{id}``: programs (a SIEM) read
the key organization's events, each as the NDJSON export carries it (with ``seq``,
``prev_hash`` and ``hash``), filtered as the viewer filters.

The list is keyed on ``seq``, the order events entered the organization's chain: a cursor
names a position in it, so paging never repeats or skips an event while others are
added (they only ever get a higher ``seq``; app/events/sequence.py finds a page in that
order under any filter). ``order=asc`` is a poll: its last page still carries an
``after`` cursor, which later returns what came since. Each request that returns events
is recorded in the organization's log as one ``dashboard.events_read`` (who read, which
filters, how many).
"""

from datetime import datetime
from urllib.parse import urlencode

import orjson
from flask import g, request
from sqlalchemy import and_
from werkzeug.datastructures import MultiDict

from app import database
from app.api.blueprint import bp
from app.api.errors import ApiError
from app.api.pagination import body as page_body
from app.api.pagination import window
from app.events import sequence
from app.events.filters import EventFilter
from app.exports.formats import ndjson_line, plain
from app.exports.services import export_query
from app.extensions import db
from app.ledger.models import Event
from app.timestamps import BOUNDS_TEXT, parse_bounded
from app.trail import services as trail

# The API's list parameters and the viewer's names for them (EventFilter.from_args).
LISTS = {
    "actions": "action",
    "actor_ids": "actor_id",
    "actor_names": "actor_name",
    "targets": "target_types",
}
RANGE = ("range_start", "range_end")
PAGING = ("limit", "before", "after", "order")
KNOWN = {*LISTS, "q", *RANGE, *PAGING}
MAX_RECORDED_FILTERS = 500
READ = "dashboard.events_read"


def values(args, name):
    """A list parameter, repeated (``actions=a&actions=b``) or bracketed (``actions[]=a``)."""
    return [*args.getlist(name), *args.getlist(f"{name}[]")]


def read_filter(args):
    """The request's filters as an ``EventFilter``; 422 naming every bad parameter."""
    problems = [
        {
            "field": name,
            "code": "unknown_parameter",
            "message": f"{name} is not a parameter of this list.",
        }
        for name in args
        if name.removesuffix("[]") not in KNOWN
    ]
    viewer_args = MultiDict([("q", args.get("q", ""))])
    for name, viewer_name in LISTS.items():
        for value in values(args, name):
            viewer_args.add(viewer_name, value)
    event_filter = EventFilter.from_args(viewer_args)
    api_names = {viewer_name: name for name, viewer_name in LISTS.items()} | {"q": "q"}
    problems += [
        {
            "field": api_names[name],
            "code": "invalid_value",
            "message": f"{api_names[name]}: {message}",
        }
        for name, message in event_filter.errors.items()
    ]
    bounds = {}
    for name in RANGE:
        raw = args.get(name)
        if raw is None:
            continue
        try:
            bounds[name] = parse_bounded(datetime.fromisoformat, raw)
        except ValueError as error:
            detail = (
                f"must be {BOUNDS_TEXT}"
                if BOUNDS_TEXT in str(error)
                else "must be an ISO 8601 date and time, such as 2024-01-15T12:00:00.000Z"
            )
            problems.append({"field": name, "code": "invalid_date", "message": f"{name} {detail}."})
    if len(bounds) == 2 and bounds["range_start"] >= bounds["range_end"]:
        problems.append(
            {
                "field": "range_end",
                "code": "invalid_range",
                "message": "range_end must be after range_start.",
            }
        )
    if problems:
        raise ApiError(422, "Validation failed.", "validation_failed", problems)
    if bounds:
        event_filter = event_filter.narrowed_to(bounds.get("range_start"), bounds.get("range_end"))
    return event_filter


def rows_of(query):
    """Plain rows of an ``export_query``, past the ORM's result layer."""
    return list(plain(db.session.connection().execute(query).all()))


def not_own_reads():
    """Leaves out the key's own ``dashboard.events_read`` records: each poll records one,
    which the next poll would return, and it another, so a poll would never come up
    empty. Others' reads, and every read in the viewer and exports, are listed."""
    return ~and_(Event.action == READ, Event.actor_id == g.api_key_id)


def record(metadata, targets=()):
    """One ``dashboard.events_read`` in the key organization's log, in a write of its own."""
    with database.writes():
        trail.record(
            g.api_org_id,
            READ,
            trail.api_key_actor(g.api_key_id, g.api_key_name),
            targets=targets,
            metadata=metadata,
        )


@bp.get("/audit_logs/events")
def list_events():
    """A page of the key organization's events, newest ``seq`` first by default."""
    event_filter = read_filter(request.args)
    found = window(request.args)
    dialect = db.engine.dialect.name
    with database.reads():
        pks = sequence.chain_page(
            g.api_org_id,
            event_filter,
            dialect,
            found.descending,
            found.mark,
            found.limit + 1,
            also=[not_own_reads()],
        )
        order = Event.seq.desc() if found.descending else Event.seq.asc()
        rows = rows_of(
            export_query(
                [Event.organization_id == g.api_org_id, Event.pk.in_(pks)],
                dialect,
                chained=True,
                order_by=(order,),
            )
        )
    # An ascending list is a poll: its end still says where to continue (``after``).
    poll = not found.descending and not found.backwards
    body = page_body(found, rows, "seq", lambda row: ndjson_line(row)[:-1], poll=poll)
    data = body["data"]
    filters = {
        name: value
        for name, value in request.args.items(multi=True)
        if name.removesuffix("[]") not in PAGING
    }
    record(
        {
            "endpoint": "GET /audit_logs/events",
            "filters": trail.clipped(
                urlencode(list(filters.items()), doseq=True), MAX_RECORDED_FILTERS
            )
            or None,
            "returned": len(data),
        }
    )
    # The records are spliced in as the export writes them (the stored JSON byte for byte).
    head = orjson.dumps({"object": "list"})[:-1].decode()
    tail = orjson.dumps({"list_metadata": body["list_metadata"]})[1:].decode()
    return f'{head},"data":[{",".join(data)}],{tail}', 200, {"Content-Type": "application/json"}


@bp.get("/audit_logs/events/<event_id>")
def get_event(event_id):
    """One event of the key organization (404 for any other, or none)."""
    query = export_query(
        [Event.organization_id == g.api_org_id, Event.id == event_id],
        db.engine.dialect.name,
        chained=True,
        order_by=(),
    )
    with database.reads():
        rows = rows_of(query)
    if not rows:
        raise ApiError(404, f"Audit log event not found: '{event_id}'.", "not_found")
    line = ndjson_line(rows[0])[:-1]
    record(
        {"endpoint": "GET /audit_logs/events/{id}", "returned": 1},
        targets=[trail.Target("audit_log_event", rows[0].id, rows[0].action)],
    )
    return line, 200, {"Content-Type": "application/json"}

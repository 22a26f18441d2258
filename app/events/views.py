"""The event viewer: the filtered list (with its pages and chart) and one event's detail."""

import json

from flask import Blueprint, abort, make_response, render_template, request, url_for
from sqlalchemy import select

from app.events import chart, pages
from app.events.filters import RANGES, EventFilter
from app.extensions import db
from app.ledger.models import Event
from app.orgs.access import AUDIT_LOGS, org_view
from app.schemas.models import Action
from app.trail import services as trail
from app.web.htmx import vary_on_htmx, wants_partial
from app.web.lookups import or_404

bp = Blueprint("events", __name__)


@bp.get("/orgs/<org_id>/events")
@org_view(portal=AUDIT_LOGS)
def index(org):
    """The event stream, newest first: the page, the filtered results, or the next rows."""
    event_filter = EventFilter.from_args(request.args)
    after = request.args.get("after") or None
    try:
        page = pages.event_page(org.id, event_filter, after=after)
    except pages.InvalidCursor:
        abort(400)
    status = 422 if event_filter.errors else 200
    context = {
        "filter": event_filter,
        "page": page,
        "args": event_filter.to_args(),
        "has_events": bool(page.events) or has_any_event(org.id),
        "partial": wants_partial(),
    }
    if wants_partial() and after:
        template = "events/_more.html"
    elif wants_partial():
        template = "events/_results.html"
    else:
        template = "events/index.html"
        context.update(
            ranges=RANGES,
            action_names=action_choices(org.id, event_filter),
            target_types=pages.target_types(org.id),
        )
    response = make_response(render_template(template, **context), status)
    if template == "events/_results.html":
        # The address bar shows the filters in their canonical form, for bookmarks.
        response.headers["HX-Push-Url"] = url_for("events.index", org_id=org.id, **context["args"])
    return vary_on_htmx(response)


@bp.get("/orgs/<org_id>/events/chart")
@org_view(portal=AUDIT_LOGS)
def events_chart(org):
    """Events over time for the current filters, as an inline SVG bar chart."""
    event_filter = EventFilter.from_args(request.args)
    histogram = chart.histogram(org.id, event_filter)
    response = make_response(
        render_template("events/_chart.html", histogram=histogram, filter=event_filter)
    )
    return vary_on_htmx(response)


@bp.get("/orgs/<org_id>/events/<event_id>")
@org_view(portal=AUDIT_LOGS)
def show(org, event_id):
    """One event, every field: its own page, or the side panel of the list."""
    event = or_404(
        db.session.scalar(
            select(Event).where(Event.organization_id == org.id, Event.id == event_id)
        )
    )
    payload = json.loads(event.payload)
    context = {
        "event": event,
        "payload": payload,
        "raw_json": json.dumps(
            {"id": event.id, **payload}, indent=2, ensure_ascii=False, sort_keys=False
        ),
    }
    template = "events/_detail.html" if wants_partial() else "events/show.html"
    return vary_on_htmx(make_response(render_template(template, **context)))


def has_any_event(org_id):
    """Whether the organization has any event at all (one index seek)."""
    return (
        db.session.scalar(select(Event.pk).where(Event.organization_id == org_id).limit(1))
        is not None
    )


def action_choices(org_id, event_filter):
    """The configured action names, the dashboard's built-in ones, and any the filter names
    that are neither."""
    names = db.session.scalars(
        select(Action.name).where(Action.organization_id == org_id).order_by(Action.name)
    ).all()
    return sorted(set(names) | set(trail.ACTIONS) | set(event_filter.actions))

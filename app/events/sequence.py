"""Pages of events in chain order (``seq``), whatever the filters: the read API's lists.

A page in ``seq`` order is found one of two ways, both exact:

- **Few candidates.** Each indexed filter (actions, actor ids, actor names, target types,
  the date range; free text through its term dictionary) names, from its own index
  alone, the ids of the events it allows. When one of them allows at most ``CAP``
  events, those (intersected with the other small sets) are read with their ``seq``,
  checked against every filter and sorted: the cost follows the smallest filter, not
  the organization's size.
- **Many.** Every filter allows more than ``CAP`` events, so the matches are dense enough
  to meet walking the (organization, seq) index in order, every filter tested on the way.
  A date range bounds the walk to the seqs of its hours' events (``event_hours``): a
  closed week a month back starts where that week's events are, instead of passing a
  month of newer ones. The range itself is written so that no index can drive it: a
  planner would otherwise read a dense range through the time index and sort it all by
  ``seq``.

The viewer's indexes hold events in (occurred_at, id) order (app/events/pages.py); this
module adds only the small ``event_hours`` table. Events whose seq order strays far from
their time order (a backfill of old events among new ones) widen their hours' spans,
and the walk passes whatever else lies in between (figures: docs/performance.md).
"""

from dataclasses import replace

from sqlalchemy import func, select

from app.extensions import db
from app.ledger import search
from app.ledger.append import hour_of
from app.ledger.models import Event, EventHour, EventTarget

CAP = 5000  # candidates read with their seq before walking seq instead


def unindexed_range(event_filter, column=Event.occurred_at):
    """The filter's date range as conditions no index serves (coalesce of the column with
    itself is the column, but not the indexed expression)."""
    moment = func.coalesce(column, column)
    found = []
    if event_filter.start is not None:
        found.append(moment >= event_filter.start)
    if event_filter.end is not None:
        found.append(moment < event_filter.end)
    return found


def indexed_range(event_filter, column):
    found = []
    if event_filter.start is not None:
        found.append(column >= event_filter.start)
    if event_filter.end is not None:
        found.append(column < event_filter.end)
    return found


def seq_bounds(org_id, event_filter):
    """Conditions on ``Event.seq`` that every event in the filter's date range meets
    (none without a range; ``None`` when no event can be in it)."""
    if event_filter.start is None and event_filter.end is None:
        return []
    # An hour more each side: spans are exact to the hour, this only has to be a superset.
    hours = []
    if event_filter.start is not None:
        hours.append(EventHour.hour >= hour_of(event_filter.start) - 1)
    if event_filter.end is not None:
        hours.append(EventHour.hour <= hour_of(event_filter.end) + 1)
    first, last = db.session.execute(
        select(func.min(EventHour.first_seq), func.max(EventHour.last_seq)).where(
            EventHour.organization_id == org_id, *hours
        )
    ).one()
    if first is None:
        return None
    return [Event.seq >= first, Event.seq <= last]


def lookups(org_id, event_filter):
    """Index-only selects of the ids each indexed filter allows (each a superset of the
    matches), in the filter's date range."""
    span = indexed_range(event_filter, Event.occurred_at)
    found = [
        select(Event.id).where(Event.organization_id == org_id, column.in_(values), *span)
        for column, values in (
            (Event.action, event_filter.actions),
            (Event.actor_id, event_filter.actor_ids),
            (Event.actor_name, event_filter.actor_names),
        )
        if values
    ]
    if event_filter.target_types:
        found.append(
            select(EventTarget.event_id).where(
                EventTarget.organization_id == org_id,
                EventTarget.type.in_(event_filter.target_types),
                *indexed_range(event_filter, EventTarget.occurred_at),
            )
        )
    if span:
        found.append(select(Event.id).where(Event.organization_id == org_id, *span))
    return found


def candidates(org_id, event_filter, dialect):
    """At most ``CAP`` ids among which every match is, or ``None`` when no filter allows
    so few."""
    best = None
    for lookup in lookups(org_id, event_filter):
        ids = db.session.scalars(lookup.limit(CAP + 1)).all()
        if len(ids) <= CAP:
            best = set(ids) if best is None else best & set(ids)
            if not best:
                return best
    if event_filter.q:
        ids = search.candidate_ids(db.session, org_id, event_filter.q, CAP, dialect)
        if ids is not None:
            best = ids if best is None else best & ids
    return best


def chain_page(org_id, event_filter, dialect, descending, mark, limit, also=()):
    """The pks of the first ``limit`` matches past ``seq`` ``mark`` (exclusive; ``None``:
    from the end the walk starts at), in ``seq`` order, highest first if ``descending``;
    ``also``: conditions on ``Event`` besides the filter's (tested, never driving)."""
    past = [] if mark is None else [Event.seq < mark if descending else Event.seq > mark]
    found = candidates(org_id, event_filter, dialect)
    unranged = replace(event_filter, start=None, end=None)
    conditions = [*unranged.conditions(org_id, dialect), *unindexed_range(event_filter), *also]
    if found is not None:
        if not found:
            return []
        rows = db.session.execute(
            select(Event.pk, Event.seq).where(Event.id.in_(found), *conditions, *past)
        ).all()
        rows.sort(key=lambda row: row.seq, reverse=descending)
        return [row.pk for row in rows[:limit]]
    bounds = seq_bounds(org_id, event_filter)
    if bounds is None:
        return []
    order = Event.seq.desc() if descending else Event.seq.asc()
    return db.session.scalars(
        select(Event.pk).where(*conditions, *bounds, *past).order_by(order).limit(limit)
    ).all()

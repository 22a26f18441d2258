"""Free text over an event's action, actor name and target names, per database.

SQLite keeps FTS5 trigram tables (``events_fts``, ``event_targets_fts``) current with
triggers that run in the inserting transaction; PostgreSQL has pg_trgm GIN indexes. Both
are created by hand in migration 7c1e5d2a9f30, so they are not in the models: schema
comparisons skip the names in ``HAND_MANAGED``. (A future SQLite batch migration that
recreates ``events`` or ``event_targets`` must recreate the triggers too.)

The match is a case-insensitive substring of at least ``MIN_LENGTH`` characters, the
shortest a trigram index can look up.
"""

from sqlalchemy import and_, exists, false, func, literal_column, or_, select, text
from sqlalchemy.orm import aliased

from app.events.models import Event, EventTarget

MIN_LENGTH = 3
HAND_MANAGED_PREFIXES = ("events_fts", "event_targets_fts")
HAND_MANAGED = {"ix_events_search_trgm", "ix_event_targets_name_trgm"}


def include_name(name, type_, parent_names):
    """Alembic's filter: leave out the search tables and indexes the migrations made by hand."""
    if name is None:
        return True
    return name not in HAND_MANAGED and not name.startswith(HAND_MANAGED_PREFIXES)


def combined_text():
    """PostgreSQL: the expression ix_events_search_trgm indexes."""
    return Event.action + " " + func.coalesce(Event.actor_name, "")


def own_matches(q, dialect):
    """Rows whose action or actor name contains ``q``."""
    own = or_(
        Event.action.icontains(q, autoescape=True),
        Event.actor_name.icontains(q, autoescape=True),
    )
    if dialect == "postgresql":
        # The expression the trigram index covers narrows; the column tests make it exact.
        return and_(combined_text().icontains(q, autoescape=True), own)
    return own


def matches(q, dialect):
    """Rows whose action, actor name or a target name contains ``q`` (exact, any plan)."""
    own = own_matches(q, dialect)
    # Aliased: the query may itself walk event_targets (by target id or type).
    target = aliased(EventTarget)
    if dialect == "postgresql":
        # An aggregate subquery is evaluated per row (through ix_event_targets_event_id);
        # PostgreSQL would turn EXISTS into a semi-join over every matching target name.
        named_target = func.coalesce(
            select(func.bool_or(target.name.icontains(q, autoescape=True)))
            .where(target.event_id == Event.id)
            .scalar_subquery(),
            false(),
        )
    else:
        named_target = exists().where(
            target.event_id == Event.id, target.name.icontains(q, autoescape=True)
        )
    return or_(own, named_target)


def fts_phrase(q):
    """``q`` as one FTS5 phrase: a plain substring, whatever punctuation it holds."""
    return '"' + q.replace('"', '""') + '"'


def indexed_matches(q):
    """SQLite only: the same rows, found through the FTS5 tables (for few matches)."""
    phrase = fts_phrase(q)
    own = (
        select(literal_column("rowid"))
        .select_from(text("events_fts"))
        .where(text("events_fts MATCH :own_phrase").bindparams(own_phrase=phrase))
    )
    target_rows = (
        select(literal_column("rowid"))
        .select_from(text("event_targets_fts"))
        .where(text("event_targets_fts MATCH :target_phrase").bindparams(target_phrase=phrase))
    )
    targets = select(EventTarget.event_id).where(EventTarget.pk.in_(target_rows))
    return or_(Event.pk.in_(own), Event.id.in_(targets))


def count_indexed_matches(session, org_id, q, cap):
    """SQLite only: how many of the organization's FTS rows match ``q`` (up to ``cap``).

    Only this organization's rows count, so that how fast a search is says nothing about
    what other organizations' events contain.
    """
    phrase = fts_phrase(q)
    sql = text(
        "SELECT (SELECT count(*) FROM (SELECT 1 FROM events_fts "
        "JOIN events ON events.pk = events_fts.rowid "
        "WHERE events_fts MATCH :p AND events.organization_id = :org LIMIT :cap)) + "
        "(SELECT count(*) FROM (SELECT 1 FROM event_targets_fts "
        "JOIN event_targets ON event_targets.pk = event_targets_fts.rowid "
        "WHERE event_targets_fts MATCH :p AND event_targets.organization_id = :org "
        "LIMIT :cap))"
    )
    return session.execute(sql, {"p": phrase, "org": org_id, "cap": cap}).scalar_one()


def candidate_pks(session, org_id, q, cap):
    """PostgreSQL: pks of the organization's events matching ``q`` through the trigram
    indexes, at most ``cap`` from each index; ``None`` when either has more (dense)."""
    own = session.scalars(
        select(Event.pk)
        .where(Event.organization_id == org_id, own_matches(q, "postgresql"))
        .limit(cap + 1)
    ).all()
    target = session.scalars(
        select(EventTarget.event_id)
        .where(
            EventTarget.organization_id == org_id, EventTarget.name.icontains(q, autoescape=True)
        )
        .limit(cap + 1)
    ).all()
    if len(own) > cap or len(target) > cap:
        return None
    by_target = (
        session.scalars(select(Event.pk).where(Event.id.in_(target))).all() if target else []
    )
    return set(own) | set(by_target)

"""Free text over an event's action, actor name and target names, per database.

Each event keeps its searchable fields in one column, ``search_text`` (see ``haystack``),
which a row-by-row filter tests without a subquery. To find few matches fast, SQLite keeps
FTS5 trigram tables (``events_fts``, ``event_targets_fts``) current with triggers that run
in the inserting transaction (migration 7c1e5d2a9f30); PostgreSQL has a pg_trgm GIN index
on ``search_text`` (migration d8f2a4c6e0b1). Neither is in the models: schema comparisons
skip the names in ``HAND_MANAGED``. (A future SQLite batch migration that
recreates ``events`` or ``event_targets`` must recreate the triggers too.)

The match is a case-insensitive substring of at least ``MIN_LENGTH`` characters, the
shortest a trigram index can look up.
"""

from sqlalchemy import literal_column, or_, select, text

from app.events.models import Event, EventTarget

MIN_LENGTH = 3
HAND_MANAGED_PREFIXES = ("events_fts", "event_targets_fts")
HAND_MANAGED = {"ix_events_search_text_trgm", "ix_events_search_trgm", "ix_event_targets_name_trgm"}


def include_name(name, type_, parent_names):
    """Alembic's filter: leave out the search tables and indexes the migrations made by hand."""
    if name is None:
        return True
    return name not in HAND_MANAGED and not name.startswith(HAND_MANAGED_PREFIXES)


SEPARATOR = "\x1f"  # between the fields of search_text; searches may not contain it


def haystack(parsed):
    """An event's ``search_text``: action, actor name and target names, separated."""
    names = [target.name for target in parsed.targets if target.name]
    return SEPARATOR.join([parsed.action, parsed.actor.name or "", *names])


def matches(q, dialect):
    """Rows whose action, actor name or a target name contains ``q``, ignoring case.

    Exact in any plan: ``q`` cannot hold the separator, so a match never spans two
    fields. PostgreSQL's ILIKE is what its trigram index serves.
    """
    if dialect == "postgresql":
        escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return Event.search_text.ilike(f"%{escaped}%", escape="\\")
    return Event.search_text.icontains(q, autoescape=True)


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
    index, at most ``cap``; ``None`` when there are more (dense: walk time instead)."""
    found = session.scalars(
        select(Event.pk)
        .where(Event.organization_id == org_id, matches(q, "postgresql"))
        .limit(cap + 1)
    ).all()
    return None if len(found) > cap else set(found)

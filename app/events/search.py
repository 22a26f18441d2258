"""Free text over an event's action, actor name and target names, per database.

Each event keeps its searchable fields in one column, ``search_text`` (see ``haystack``),
which a row-by-row filter tests without a subquery. To find few matches fast, both
databases index that column (migration d8f2a4c6e0b1): SQLite with one FTS5 trigram table,
``events_fts``, kept current by triggers in the inserting transaction; PostgreSQL with a
pg_trgm GIN index. Neither is in the models: schema comparisons skip the names in
``HAND_MANAGED`` (which keeps the names of earlier revisions' objects too). A future
SQLite batch migration that recreates ``events`` must recreate the triggers.

The match is a case-insensitive substring of at least ``MIN_LENGTH`` characters, the
shortest a trigram index can look up.
"""

from sqlalchemy import select, text

from app.events.models import Event

MIN_LENGTH = 3
HAND_MANAGED_PREFIXES = ("events_fts", "event_targets_fts")
HAND_MANAGED = {"ix_events_search_text_trgm", "ix_events_search_trgm", "ix_event_targets_name_trgm"}


def include_name(name, type_, parent_names):
    """Alembic's filter: leave out the search tables and indexes the migrations made by hand."""
    if name is None:
        return True
    return name not in HAND_MANAGED and not name.startswith(HAND_MANAGED_PREFIXES)


SEPARATOR = "\x1f"  # between the fields of search_text; searches may not contain it


def haystack(action, actor_name, target_names):
    """An event's ``search_text``: its action, actor name and (non-empty) target names."""
    return SEPARATOR.join([action, actor_name or "", *(name for name in target_names if name)])


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


def candidate_pks(session, org_id, q, cap, dialect):
    """pks of the organization's events matching ``q``, found through the full-text index
    (SQLite's FTS5 table, PostgreSQL's trigram index): at most ``cap`` of them, or ``None``
    when there are more (dense: walking time is faster).

    Only this organization's rows count, so that how fast a search is says nothing about
    what other organizations' events contain.
    """
    if dialect == "postgresql":
        query = select(Event.pk).where(Event.organization_id == org_id, matches(q, dialect))
        if estimated_rows(session, query) > cap:
            return None  # reading a dense term's whole bitmap would cost more than walking
        found = session.scalars(query.limit(cap + 1)).all()
    else:
        sql = text(
            "SELECT events.pk FROM events_fts JOIN events ON events.pk = events_fts.rowid "
            "WHERE events_fts MATCH :phrase AND events.organization_id = :org LIMIT :limit"
        )
        found = session.scalars(
            sql, {"phrase": fts_phrase(q), "org": org_id, "limit": cap + 1}
        ).all()
    return None if len(found) > cap else set(found)


def estimated_rows(session, query):
    """PostgreSQL's estimate of how many rows ``query`` returns (its planner's, from the
    trigram-aware column statistics: a millisecond, where counting dense matches through
    the index takes up to a second)."""
    compiled = query.compile(dialect=session.get_bind().dialect)
    plan = (
        session.connection()
        .exec_driver_sql(f"EXPLAIN (FORMAT JSON) {compiled}", compiled.params)
        .scalar_one()
    )
    return plan[0]["Plan"]["Plan Rows"]

"""Free text over an event's action, actor name and target names.

Each event keeps its searchable fields in one column, ``search_text`` (see ``haystack``),
which a row-by-row filter tests without a subquery (a walk in time order, when many
events match).

To find few matches fast without a full-text index over every event (which cost more
than the rest of an insert together), the distinct values themselves are indexed: each
organization's actions, actor names and target names are rows of ``search_terms``
(migration e3b7c9d1f5a2), which SQLite indexes with an FTS5 trigram table
(``search_terms_fts``, kept by triggers) and PostgreSQL with a pg_trgm GIN index. A
search finds the terms containing the text, then the events with exactly those values
through the events' own indexes: (organization, action), (organization, actor_name) and
event_targets' (organization, name). An organization has far fewer distinct names than
events, and a new event usually adds none, so an insert costs a unique-index probe per
distinct term of its transaction.

The full-text objects are not in the models: schema comparisons skip the names in
``HAND_MANAGED`` (which keeps the names of earlier revisions' objects too). A future
SQLite batch migration that recreates ``search_terms`` must recreate the triggers.

The match is a case-insensitive substring of at least ``MIN_LENGTH`` characters, the
shortest a trigram index can look up.
"""

import string

from sqlalchemy import delete, func, select, text, union

from app.ledger.models import Event, EventTarget, SearchTerm

MIN_LENGTH = 3
MAX_TERMS = 200  # matching terms looked up one by one before walking time instead
HAND_MANAGED_PREFIXES = ("events_fts", "event_targets_fts", "search_terms_fts")
HAND_MANAGED = {
    "ix_events_search_text_trgm",
    "ix_events_search_trgm",
    "ix_event_targets_name_trgm",
    "ix_search_terms_term_trgm",
}
TERMS = SearchTerm.__table__


def include_name(name, type_, parent_names):
    """Alembic's filter: leave out the search tables and indexes the migrations made by hand."""
    if name is None:
        return True
    return name not in HAND_MANAGED and not name.startswith(HAND_MANAGED_PREFIXES)


ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)  # SQLite's lower()
SEPARATOR = "\x1f"  # between the fields of search_text; searches may not contain it


def haystack(action, actor_name, target_names):
    """An event's ``search_text``: its action, actor name and (non-empty) target names."""
    return SEPARATOR.join([action, actor_name or "", *(name for name in target_names if name)])


def event_terms(action, actor_name, target_names):
    """An event's terms: its action, actor name and target names, the values its
    ``search_text`` joins (empty ones left out).

    The values themselves, not ``search_text`` split at the separator: a name may hold
    U+001F, and its events are found by their exact value."""
    return {value for value in (action, actor_name, *target_names) if value}


def term_rows(rows, targets):
    """The ``search_terms`` rows of new events-table rows and their event_targets rows:
    their distinct terms, which ``Appender.append`` adds in the inserting transaction
    with ``INSERT ... ON CONFLICT DO NOTHING``."""
    terms = {
        (row["organization_id"], term)
        for row in rows
        for term in event_terms(row["action"], row["actor_name"], ())
    }
    terms |= {(target["organization_id"], target["name"]) for target in targets if target["name"]}
    return [{"organization_id": org, "term": term} for org, term in sorted(terms)]


def forget_unused_terms(connection, org_id, terms):
    """After a purge deleted events (``terms``: their ``event_terms``), delete the terms
    that no remaining event of the organization uses, so that a purged name is gone from
    search too.

    The caller holds the organization's chain head lock, as every inserting transaction
    does before it adds terms: no event can start using a term while it goes.
    """
    if not terms:
        return
    used = (
        select(Event.pk).where(Event.organization_id == org_id, Event.action == TERMS.c.term),
        select(Event.pk).where(Event.organization_id == org_id, Event.actor_name == TERMS.c.term),
        select(EventTarget.pk).where(
            EventTarget.organization_id == org_id, EventTarget.name == TERMS.c.term
        ),
    )
    terms = sorted(terms)
    for start in range(0, len(terms), 1000):
        connection.execute(
            delete(TERMS).where(
                TERMS.c.organization_id == org_id,
                TERMS.c.term.in_(terms[start : start + 1000]),
                *(~query.exists() for query in used),
            )
        )


def matches(q, dialect):
    """Rows whose action, actor name or a target name contains ``q``, ignoring case.

    Exact in any plan: ``q`` cannot hold the separator, so a match never spans two
    fields.
    """
    if dialect == "postgresql":
        return Event.search_text.ilike(like_pattern(q), escape="\\")
    return Event.search_text.icontains(q, autoescape=True)


def like_pattern(q):
    """``%q%`` for ILIKE, with q's own wildcards escaped."""
    escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def fts_phrase(q):
    """``q`` as one FTS5 phrase: a plain substring, whatever punctuation it holds."""
    return '"' + q.replace('"', '""') + '"'


def matching_terms(session, org_id, q, limit, dialect):
    """Up to ``limit`` + 1 of the organization's terms containing ``q`` (ignoring case),
    through the terms' full-text index."""
    if dialect == "postgresql":
        query = select(SearchTerm.term).where(
            SearchTerm.organization_id == org_id,
            SearchTerm.term.ilike(like_pattern(q), escape="\\"),
        )
        return session.scalars(query.limit(limit + 1)).all()
    sql = text(
        "SELECT search_terms.term FROM search_terms_fts "
        "JOIN search_terms ON search_terms.pk = search_terms_fts.rowid "
        "WHERE search_terms_fts MATCH :phrase AND search_terms.organization_id = :org "
        "LIMIT :limit"
    )
    found = session.scalars(sql, {"phrase": fts_phrase(q), "org": org_id, "limit": limit + 1}).all()
    if len(found) > limit:
        return found  # too many either way: the caller walks time
    # FTS5 folds the case of every letter; SQLite's LIKE, which a walk tests, only ASCII
    # letters. Keep what LIKE matches, so both paths find the same events.
    needle = q.translate(ASCII_LOWER)
    return [term for term in found if needle in term.translate(ASCII_LOWER)]


def candidate_ids(session, org_id, q, cap, dialect):
    """Ids of the organization's events matching ``q``: at most ``cap`` of them, or
    ``None`` when there are more (dense: walking time is faster).

    Each lookup reads one index alone, which holds the event id: (organization, action,
    occurred_at, id), (organization, actor_name, occurred_at, id) and event_targets'
    (organization, name, event_id). Only this organization's terms and events are
    returned (the full-text index itself covers every organization's terms).
    """
    terms = matching_terms(session, org_id, q, MAX_TERMS, dialect)
    if len(terms) > MAX_TERMS:
        return None
    if not terms:
        return set()
    lookups = (
        select(Event.id).where(Event.organization_id == org_id, Event.action.in_(terms)),
        select(Event.id).where(Event.organization_id == org_id, Event.actor_name.in_(terms)),
        select(EventTarget.event_id.label("id")).where(
            EventTarget.organization_id == org_id, EventTarget.name.in_(terms)
        ),
    )
    # Each lookup stops after cap + 1 ids (all of them, if at most cap); counted first,
    # so that a dense match costs one round trip and sends no ids.
    parts = [lookup.limit(cap + 1).subquery() for lookup in lookups]
    ids = union(*(select(part.c.id) for part in parts)).subquery()
    bounded = select(ids.c.id).limit(cap + 1).subquery()
    if session.scalar(select(func.count()).select_from(bounded)) > cap:
        return None
    return set(session.scalars(select(ids.c.id)).all())

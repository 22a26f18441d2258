"""Free text's term dictionary: every insert path records its events' actions, actor
names and target names; a search finds events through them, in one organization only.
(The retention purge's part: tests/test_retention_purge.py.)"""

from sqlalchemy import select

from app.events.filters import EventFilter
from app.events.pages import event_page
from app.extensions import db
from app.ledger import search
from app.ledger.models import Event, SearchTerm
from app.orgs.models import Role
from tests.conftest import seed_event


def terms_of(app, org_id):
    with app.app_context():
        return set(
            db.session.scalars(select(SearchTerm.term).where(SearchTerm.organization_id == org_id))
        )


def found(app, org_id, q, cap=100):
    """The ids of the events the term lookup finds (None: more than ``cap``)."""
    with app.app_context():
        return search.candidate_ids(db.session, org_id, q, cap, db.engine.dialect.name)


def test_the_api_path_records_each_distinct_term_once(app, make_org, make_events):
    org_id = make_org()
    event = seed_event(
        actor={"type": "user", "id": "u1", "name": "Ann Example"},
        targets=[
            {"type": "team", "id": "t1", "name": "Blue Team"},
            {"type": "doc", "id": "d1", "name": ""},
            {"type": "doc", "id": "d2"},
        ],
    )
    make_events(org_id, event, event)
    make_events(org_id, event)
    assert terms_of(app, org_id) == {"user.signed_in", "Ann Example", "Blue Team"}


def test_a_search_finds_events_by_any_field_ignoring_case(app, make_org, make_events):
    org_id = make_org()
    by_action, by_actor, by_target, neither = make_events(
        org_id,
        seed_event(action="invoice.paid"),
        seed_event(actor={"type": "user", "id": "u1", "name": "Paula Invoicer"}),
        seed_event(targets=[{"type": "doc", "id": "d1", "name": "Old INVOICES"}]),
        seed_event(actor={"type": "member", "id": "actor_zz9", "name": "Ann"}),
    )
    assert found(app, org_id, "invoice") == {by_action, by_actor, by_target}
    assert found(app, org_id, "nothing like it") == set()
    assert found(app, org_id, "invoice", cap=2) is None  # more than the cap: walk instead
    assert found(app, org_id, "zz9") == set()  # ids and types are not searched
    assert found(app, org_id, "member") == set()
    assert neither in found(app, org_id, "ann")


def test_a_search_never_reaches_another_organizations_events(app, make_org, make_events):
    mine, theirs = make_org("Mine"), make_org("Theirs")
    make_events(theirs, seed_event(actor={"type": "user", "id": "u1", "name": "Secret Agent"}))
    [own] = make_events(mine, seed_event(actor={"type": "user", "id": "u1", "name": "Agent"}))
    assert found(app, mine, "agent") == {own}
    assert "Secret Agent" not in terms_of(app, mine)


def test_dashboard_events_record_their_terms(app, auth, make_org, make_user):
    org_id = make_org()
    make_user("ann@example.com", org_id, Role.ADMIN)
    assert auth.login("ann@example.com").status_code == 303
    assert {"dashboard.signed_in", "ann@example.com"} <= terms_of(app, org_id)


def by_terms(app, org_id, q):
    with app.app_context():
        return search.candidate_ids(db.session, org_id, q, 100, db.engine.dialect.name)


def by_walk(app, org_id, q):
    with app.app_context():
        dialect = db.engine.dialect.name
        return set(
            db.session.scalars(
                select(Event.id).where(Event.organization_id == org_id, search.matches(q, dialect))
            )
        )


def viewer(app, org_id, q):
    with app.app_context():
        return {e.id for e in event_page(org_id, EventFilter(q=q)).events}


def test_a_name_holding_u001f_is_found_by_the_viewer(app, api, seed_schema):
    """The API accepts U+001F (search_text's separator) in names: the terms are the
    values themselves, not search_text's pieces, so the exact-value lookup finds them."""
    event = seed_event(actor={"type": "user", "id": "u1", "name": "Ann\x1fBobby Zed"})
    response = api.post("/audit_logs/events", {"organization_id": api.org_id, "event": event})
    assert response.status_code in (200, 201, 202), response.get_json()
    assert len(by_walk(app, api.org_id, "Bobby")) == 1
    assert by_terms(app, api.org_id, "Bobby") == by_walk(app, api.org_id, "Bobby")
    assert len(viewer(app, api.org_id, "Bobby")) == 1


def test_terms_are_the_stored_values(app, make_org, make_events):
    org_id = make_org()
    make_events(org_id, seed_event(actor={"type": "user", "id": "u1", "name": "Ann\x1fBob"}))
    with app.app_context():
        terms = set(db.session.scalars(select(SearchTerm.term)))
    # what the migration's backfill stores, and what the lookups compare with
    assert "Ann\x1fBob" in terms, terms


def test_non_ascii_case_folds_the_same_on_both_paths(app, make_org, make_events):
    """SQLite's FTS5 folds the case of every letter, its LIKE (the walk's test) only ASCII
    letters: the term path keeps what LIKE matches. (PostgreSQL's ILIKE is both paths.)"""
    org_id = make_org()
    make_events(
        org_id, seed_event(targets=[{"type": "team", "id": "t1", "name": "ÉCOLE Numérique"}])
    )
    walk, terms = by_walk(app, org_id, "école"), by_terms(app, org_id, "école")
    assert walk == terms, (walk, terms)

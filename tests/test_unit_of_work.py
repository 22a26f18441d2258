"""The unit of work: only ``database.writes()`` commits, and anything else reads in a
transaction the database itself keeps read-only."""

import pytest
from flask import Blueprint, request
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from app import database
from app.extensions import db
from app.orgs.models import Organization

READ_ONLY = r"(?i)read.?only"  # SQLite: "readonly database"; PostgreSQL: "read-only transaction"


def organization_count(app):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Organization))


@pytest.fixture
def endpoints(app, make_user):
    """Views a newcomer might write, added to the app before its first request."""
    make_user()  # past first-run setup
    bp = Blueprint("newcomer", __name__)

    @bp.get("/new/obvious")
    def obvious():
        db.session.add(Organization(name="Written in a GET"))
        db.session.commit()
        return "saved"

    @bp.post("/new/undeclared")
    def undeclared():
        db.session.add(Organization(name="Written in an undeclared POST"))
        db.session.flush()
        return "flushed"

    @bp.post("/new/declared")
    @database.writes
    def declared():
        db.session.add(Organization(name="Declared"))
        return "saved", 201

    @bp.post("/new/refused")
    @database.writes
    def refused():
        db.session.add(Organization(name="Refused"))
        db.session.flush()
        return "nope", 422

    @bp.post("/new/failing")
    @database.writes
    def failing():
        db.session.add(Organization(name="Failing"))
        raise RuntimeError("before the commit")

    @bp.route("/new/form", methods=["GET", "POST"])
    @database.writes
    def form():
        db.session.add(Organization(name=f"From a {request.method}"))
        db.session.flush()
        return "saved"

    app.register_blueprint(bp)
    app.config["WTF_CSRF_ENABLED"] = False
    return app.test_client()


def test_a_get_endpoint_written_the_obvious_way_cannot_write(app, endpoints):
    with pytest.raises(DBAPIError, match=READ_ONLY):
        endpoints.get("/new/obvious")
    assert organization_count(app) == 0


def test_a_post_that_does_not_declare_its_write_cannot_write_either(app, endpoints):
    with pytest.raises(DBAPIError, match=READ_ONLY):
        endpoints.post("/new/undeclared")
    assert organization_count(app) == 0


def test_a_declared_write_commits_once_the_view_succeeds(app, endpoints):
    assert endpoints.post("/new/declared").status_code == 201
    assert organization_count(app) == 1


def test_a_refused_response_or_an_exception_rolls_the_write_back(app, endpoints):
    assert endpoints.post("/new/refused").status_code == 422
    with pytest.raises(RuntimeError):
        endpoints.post("/new/failing")
    assert organization_count(app) == 0


def test_reads_cannot_write_outside_requests_too(app):
    with app.app_context():
        with pytest.raises(DBAPIError, match=READ_ONLY), database.reads():
            db.session.add(Organization(name="In a read"))
            db.session.flush()
        with database.writes():
            db.session.add(Organization(name="In a write"))
    assert organization_count(app) == 1


def test_a_write_inside_a_read_is_refused(app):
    refused = pytest.raises(database.OutsideUnitOfWork)
    with app.app_context(), database.reads(), refused, database.writes():
        pass


def test_changes_made_outside_a_unit_are_not_committed_by_the_next_one(app):
    with app.app_context():
        db.session.add(Organization(name="Stray"))
        db.session.flush()
        with pytest.raises(database.OutsideUnitOfWork), database.writes():
            pass
    assert organization_count(app) == 0


def test_units_nest_into_the_outermost(app):
    with app.app_context():
        with database.writes():
            db.session.add(Organization(name="Outer"))
            with database.reads():  # joins the write: sees it, commits nothing itself
                assert db.session.scalar(select(func.count()).select_from(Organization)) == 1
            with database.writes():
                db.session.add(Organization(name="Inner"))
        assert organization_count(app) == 2


def test_a_read_only_connection_of_its_own_cannot_write(app):
    with (
        app.app_context(),
        database.read_only_connection() as connection,
        pytest.raises(DBAPIError, match=READ_ONLY),
    ):
        connection.execute(Organization.__table__.insert().values(id="org_x", name="x"))


def test_a_connection_left_read_only_serves_the_next_write(app):
    """The driver's read-only mode stays on a pooled connection: the next unit resets it."""
    with app.app_context():
        for _ in range(3):
            with database.reads():
                db.session.scalar(select(func.count()).select_from(Organization))
            with database.writes():
                db.session.add(Organization(name="Next"))
    assert organization_count(app) == 3


def test_a_form_view_declared_to_write_writes_on_post_only(app, endpoints):
    """GET shows the form in a read-only transaction (no write lock while it renders)."""
    with pytest.raises(DBAPIError, match=READ_ONLY):
        endpoints.get("/new/form")
    assert endpoints.post("/new/form").status_code == 200
    assert organization_count(app) == 1


def test_a_write_decides_on_what_the_database_holds_now(app, make_org):
    """An object read before the unit (a page's lookup) is read again inside it."""
    org_id = make_org("Before")
    with app.app_context():
        with database.reads():
            org = db.session.get(Organization, org_id)
        assert org.name == "Before"
        with database.write_connection() as other:  # someone else, meanwhile
            other.execute(
                Organization.__table__.update()
                .where(Organization.__table__.c.id == org_id)
                .values(name="Meanwhile")
            )
        with database.writes():
            assert org.name == "Meanwhile"

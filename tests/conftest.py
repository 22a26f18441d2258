"""Fixtures shared by the whole suite.

Every test runs once per database: SQLite always, and PostgreSQL when
``TEST_DATABASE_URL`` is set (``.ci/run`` sets it). The schema is built by the
migrations, exactly as ``make run`` builds it, once per database per session; each test
then starts from empty tables.
"""

import os
import re
import threading

import pytest
from flask_migrate import upgrade
from sqlalchemy import create_engine, text
from werkzeug.serving import make_server

from app import create_app
from app.accounts import services as accounts
from app.extensions import db, limiter
from app.jobs import runner as job_runner
from app.orgs import services as orgs
from app.orgs.models import Role

DATABASES = ["sqlite"] + (["postgresql"] if os.environ.get("TEST_DATABASE_URL") else [])
PASSWORD = "correct horse battery"


def pytest_report_header(config):
    """Say in the log which databases this run covers."""
    return f"databases: {', '.join(DATABASES)}"


def postgres_uri():
    """The PostgreSQL test database as a SQLAlchemy URI (psycopg 3)."""
    from app.config import database_uri

    return database_uri(os.environ["TEST_DATABASE_URL"], "")


@pytest.fixture(scope="session", params=DATABASES)
def database(request, tmp_path_factory):
    """A database migrated to the latest revision: its SQLAlchemy URI."""
    if request.param == "sqlite":
        uri = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    else:
        uri = postgres_uri()
        engine = create_engine(uri)
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    app = create_app({"SQLALCHEMY_DATABASE_URI": uri, "SECRET_KEY": "migrations"})
    with app.app_context():
        upgrade()
        db.engine.dispose()
    return uri


def empty_tables():
    """Delete every row, so the next test starts from nothing."""
    tables = [table.name for table in reversed(db.metadata.sorted_tables)]
    with db.engine.begin() as connection:
        if db.engine.dialect.name == "postgresql":
            connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for name in tables:
                connection.execute(text(f"DELETE FROM {name}"))


@pytest.fixture(autouse=True)
def fresh_world():
    """The filter cases' events happen relative to this test's moment, not the suite's
    start (a long run would move "the last hour" past them)."""
    from tests import filter_cases

    filter_cases.refresh()


@pytest.fixture
def app(database, tmp_path):
    """The application, on empty tables of the current database."""
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret-key",
            "SQLALCHEMY_DATABASE_URI": database,
            "SERVER_NAME": None,
            "RETENTION_PURGE": "off",  # tests run the daily job themselves
            "EXPORT_WORKER": "off",  # tests run export jobs themselves (run_next_export)
            "STREAM_WORKER": "off",  # tests run stream rounds themselves (run_next)
        }
    )
    app.instance_path = str(tmp_path / "instance")
    limiter.reset()
    with app.app_context():
        empty_tables()
    yield app
    job_runner.stop(app)
    writer = app.extensions.get("auditlog.event_writer")
    if writer is not None:
        writer.stop()
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    """A test client for the app."""
    return app.test_client()


@pytest.fixture
def runner(app):
    """A click runner for the app's commands."""
    return app.test_cli_runner()


@pytest.fixture
def make_org(app):
    """Create an organization (optionally with an admin)."""

    def make(name="Acme", admin=None):
        with app.app_context():
            org = orgs.create_organization(name, admin=admin, actor=None)
            db.session.commit()
            return org.id

    return make


@pytest.fixture
def make_user(app):
    """Create a user (or reuse one), member of ``org_id`` in ``role`` when given."""

    def make(email="admin@example.com", org_id=None, role=Role.ADMIN, superuser=False):
        with app.app_context():
            user = accounts.find_user(email) or accounts.create_user(
                email, PASSWORD, is_superuser=superuser
            )
            if org_id is not None:
                orgs.add_member(orgs.get_organization(org_id), email, role, actor=None)
            db.session.commit()
            return user.email

    return make


CSRF_PATTERN = re.compile(
    r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"'
)


def csrf_token_from(html):
    """The CSRF token in a rendered page."""
    match = CSRF_PATTERN.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1) or match.group(2)


class AuthActions:
    """Sign in and out through the real forms, and post forms with their CSRF token."""

    def __init__(self, client):
        self.client = client

    def login(self, email="admin@example.com", password=PASSWORD):
        """Sign in through the login form."""
        token = csrf_token_from(self.client.get("/login").get_data(as_text=True))
        return self.client.post(
            "/login", data={"email": email, "password": password, "csrf_token": token}
        )

    def logout(self):
        """Sign out through the header's form."""
        return self.post("/logout")

    def csrf_token(self):
        """A valid CSRF token for this client's session."""
        page = self.client.get("/account" if self.signed_in() else "/login")
        return csrf_token_from(page.get_data(as_text=True))

    def signed_in(self):
        """Whether the client's session is signed in."""
        with self.client.session_transaction() as session:
            return "_user_id" in session

    def post(self, url, data=None, **kwargs):
        """POST a form with a valid CSRF token."""
        return self.client.post(
            url, data={**(data or {}), "csrf_token": self.csrf_token()}, **kwargs
        )


@pytest.fixture
def auth(client):
    """Sign-in helper bound to ``client``."""
    return AuthActions(client)


@pytest.fixture
def org_admin(make_org, make_user, auth):
    """An organization with a signed-in admin: returns the organization's id.

    The admin signs in before joining, so that the organization's log starts empty (a
    sign-in is recorded in every organization of the user: tests/test_trail.py).
    """
    org_id = make_org("Acme")
    make_user("admin@example.com", superuser=True)
    auth.login("admin@example.com")
    make_user("admin@example.com", org_id, Role.ADMIN)
    return org_id


class LiveServer:
    """The app served over HTTP on a free loopback port, in a thread.

    Stopping waits for requests still being answered (their threads are daemons, which
    the server does not join): a request thread holding a database connection when the
    app fixture disposes the engine would leave the connection to the garbage collector.
    """

    def __init__(self, app):
        self.app = app
        self.in_flight = 0
        self.idle = threading.Condition()
        self.server = make_server("127.0.0.1", 0, self.counting, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def counting(self, environ, start_response):
        """The app, counting the requests in flight until their response is sent."""
        with self.idle:
            self.in_flight += 1
        try:
            body = self.app(environ, start_response)
            try:
                yield from body
            finally:
                if hasattr(body, "close"):
                    body.close()
        finally:
            with self.idle:
                self.in_flight -= 1
                self.idle.notify_all()

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.thread.join()
        with self.idle:
            self.idle.wait_for(lambda: self.in_flight == 0, timeout=60)
        self.server.server_close()


@pytest.fixture
def live_server(app):
    """A live HTTP server for the app (for the SDK and the browser)."""
    with LiveServer(app) as server:
        yield server


@pytest.fixture
def make_key(app):
    """Create an API key for an organization; returns its secret."""
    from app.keys import services as keys

    def make(org_id, name="Test key"):
        with app.app_context():
            _key, secret = keys.create_key(orgs.get_organization(org_id), name, actor=None)
            db.session.commit()
            return secret

    return make


class ApiClient:
    """Raw HTTP against the JSON API with an API key."""

    def __init__(self, client, secret, org_id=None):
        self.client = client
        self.secret = secret
        self.org_id = org_id

    def headers(self, extra=None):
        return {"Authorization": f"Bearer {self.secret}", **(extra or {})}

    def get(self, path, **kwargs):
        return self.client.get(path, headers=self.headers(kwargs.pop("headers", None)), **kwargs)

    def post(self, path, json=None, **kwargs):
        return self.client.post(
            path, json=json, headers=self.headers(kwargs.pop("headers", None)), **kwargs
        )

    def put(self, path, json=None, **kwargs):
        return self.client.put(
            path, json=json, headers=self.headers(kwargs.pop("headers", None)), **kwargs
        )


@pytest.fixture
def api_org(make_org, make_user):
    """An organization (with an admin, so the app is past first-run setup)."""
    org_id = make_org("Acme")
    make_user("admin@example.com", org_id)
    return org_id


@pytest.fixture
def api(client, api_org, make_key):
    """An API client holding a key of ``api_org``."""
    return ApiClient(client, make_key(api_org), api_org)


@pytest.fixture
def api_schema(app, api):
    """The app's OpenAPI document, loaded by schemathesis (requests go through WSGI)."""
    import schemathesis

    return schemathesis.openapi.from_wsgi("/openapi.json", app)


@pytest.fixture
def seed_schema(app, api, api_org):
    """Configure the seed document's action: ``user.signed_in`` with a ``team`` target
    (through the service, unrecorded, so that the organization's log holds only what a
    test sends; tests/api/test_schemas.py covers the endpoint and its audit event)."""
    from app.api.schemas import schema_json
    from app.database import writes
    from app.schemas.services import create_schema

    with app.app_context(), writes():
        version, _created = create_schema(
            orgs.get_organization(api_org),
            "user.signed_in",
            {"targets": [{"type": "team"}]},
            actor=None,
            created_by="test",
        )
        return schema_json(version)


def seed_event(**changes):
    """The seed document's event, with ``changes`` applied."""
    event = {
        "action": "user.signed_in",
        "occurred_at": "2022-08-29T19:47:52.336Z",
        "actor": {"type": "user", "id": "user_01GBNJC3MX9ZZJW1FSTF4C5938"},
        "targets": [{"type": "team", "id": "team_01GBNJD4MKHVKJGEWK42JNMBGS"}],
        "context": {"location": "123.123.123.123", "user_agent": "Chrome/104.0.0.0"},
    }
    event.update(changes)
    return event


def run_in_threads(target, arguments):
    """Call ``target(*args)`` for every ``args`` in ``arguments``, each in a thread of its own,
    all at once; wait for them and return the exceptions they raised (a test wants none)."""
    errors = []

    def run(*args):
        try:
            target(*args)
        except Exception as error:  # returned, so that the test reports it
            errors.append(error)

    threads = [threading.Thread(target=run, args=args) for args in arguments]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


@pytest.fixture
def make_events(app):
    """Store events (raw API dicts) for an organization as the API would, without schema
    checks; returns their ids in the order given."""
    from sqlalchemy import select

    from app.ingest.services import store_events
    from app.ledger.models import Event
    from app.ledger.shape import parse_event

    def make(org_id, *events):
        with app.app_context():
            store_events(org_id, [(raw, parse_event(raw)) for raw in events])
            newest = db.session.scalars(
                select(Event.id)
                .where(Event.organization_id == org_id)
                .order_by(Event.pk.desc())
                .limit(len(events))
            ).all()
            return newest[::-1]

    return make


def signal_rounds(queue):
    """An event set after each round the queue runs (the test clears it)."""
    rounds = threading.Event()
    original = queue.run_once

    def counted(runner):
        ran = original(runner)
        rounds.set()
        return ran

    queue.run_once = counted
    return rounds

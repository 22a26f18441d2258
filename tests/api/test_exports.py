"""The exports API: create, get, the signed download URL; raw HTTP and the official SDK."""

import csv
import io
import json
from datetime import timedelta
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from sqlalchemy import select
from workos import WorkOSClient
from workos._errors import BadRequestError, NotFoundError, UnprocessableEntityError
from workos.audit_logs.models import AuditLogSchemaTargetInput

from app.exports import services
from app.exports.models import Export, ExportDownload
from app.extensions import db
from app.ledger.models import Event
from app.timestamps import utcnow
from tests.conftest import ApiClient, seed_event
from tests.filter_cases import WORLD

RANGE = {"range_start": "2000-01-01T00:00:00.000Z", "range_end": "2100-01-01T00:00:00.000Z"}


def run_jobs(app):
    """What the worker does: run every waiting export."""
    with app.app_context():
        while services.run_next_export("test-worker") is not None:
            pass


def ids_in(csv_bytes):
    """The ids of the sent events in an export's CSV, in order (without the built-in
    ``dashboard.export_created`` the request itself added to the log)."""
    rows = csv.DictReader(io.StringIO(csv_bytes.decode("utf-8-sig"), newline=""))
    return [row["id"] for row in rows if not row["action"].startswith("dashboard.")]


@pytest.fixture
def world(api, make_events):
    """WORLD stored in the key's organization: ids in WORLD's order."""
    return make_events(api.org_id, *WORLD)


def create(api, **body):
    return api.post("/audit_logs/exports", {"organization_id": api.org_id, **RANGE, **body})


def test_create_get_and_download(app, api, client, world):
    response = create(api)
    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == {"object", "id", "state", "url", "created_at", "updated_at"}
    assert body["object"] == "audit_log_export" and body["state"] == "pending"
    assert body["url"] is None and body["id"].startswith("audit_log_export_")
    assert body["created_at"].endswith("Z") and len(body["created_at"]) == 24
    assert api.get(f"/audit_logs/exports/{body['id']}").get_json()["state"] == "pending"

    run_jobs(app)
    ready = api.get(f"/audit_logs/exports/{body['id']}").get_json()
    assert ready["state"] == "ready"
    url = urlsplit(ready["url"])
    assert url.scheme == "http" and url.netloc == "localhost"  # absolute
    again = api.get(f"/audit_logs/exports/{body['id']}").get_json()["url"]
    assert again != ready["url"]  # a fresh signature on each GET (they differ by timestamp)
    download = client.get(f"{url.path}?{url.query}")  # no API key
    data = download.get_data()
    download.close()
    assert download.status_code == 200 and download.mimetype == "text/csv"
    assert ids_in(data) == world
    with app.app_context():
        [recorded] = db.session.scalars(select(ExportDownload)).all()
        assert recorded.via == "signed_url" and recorded.user_id is None
        assert recorded.ip_address == "127.0.0.1" and recorded.url_issued_at is not None
        # The holder of the URL is not known: the URL is the actor.
        event = db.session.scalar(
            select(Event).where(Event.action == "dashboard.export_downloaded")
        )
        assert (event.actor_type, event.actor_id) == ("signed_url", body["id"])
        assert event.location == "127.0.0.1"


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"actions": ["user.signed_in", "invoice.paid"]}, [0, 4, 5]),
        ({"actor_names": ["Bob"]}, [2, 5]),
        ({"actors": ["Carol"]}, [4]),
        ({"actor_names": ["Bob"], "actors": ["Carol"]}, [2, 4, 5]),
        ({"actor_ids": ["user_alice"], "targets": ["team"]}, [0, 1]),
        ({"targets": ["invoice", "document"]}, [2, 3, 4]),
        ({"actions": ["document.viewed"], "actor_ids": ["svc_backup", "user_alice"]}, [3, 6]),
        ({"actions": [], "targets": []}, [0, 1, 2, 3, 4, 5, 6]),
        ({"format": "ndjson", "actor_ids": ["user_carol"]}, [4]),
    ],
)
def test_filters_or_within_a_list_and_across_lists(app, api, client, world, filters, expected):
    export_id = create(api, **filters).get_json()["id"]
    run_jobs(app)
    url = urlsplit(api.get(f"/audit_logs/exports/{export_id}").get_json()["url"])
    response = client.get(f"{url.path}?{url.query}")
    data = response.get_data()
    response.close()
    if filters.get("format") == "ndjson":
        lines = [json.loads(line) for line in data.decode().splitlines()]
        ids = [line["id"] for line in lines if not line["action"].startswith("dashboard.")]
    else:
        ids = ids_in(data)
    assert ids == [world[i] for i in expected]


def test_the_range_includes_its_start_and_excludes_its_end(app, api, client, make_events):
    ids = make_events(
        api.org_id,
        seed_event(occurred_at="2024-01-01T00:00:00.000Z"),
        seed_event(occurred_at="2024-01-01T23:59:59.999Z"),
        seed_event(occurred_at="2024-01-02T00:00:00.000Z"),
    )
    export_id = create(
        api, range_start="2024-01-01T00:00:00Z", range_end="2024-01-02T00:00:00+00:00"
    ).get_json()["id"]
    run_jobs(app)
    url = urlsplit(api.get(f"/audit_logs/exports/{export_id}").get_json()["url"])
    response = client.get(f"{url.path}?{url.query}")
    assert ids_in(response.get_data()) == [ids[1], ids[0]]
    response.close()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"range_start": "yesterday"}, "range_start"),
        ({"range_end": "2024-13-01T00:00:00Z"}, "range_end"),
        ({"range_start": "2024-02-01T00:00:00Z", "range_end": "2024-01-01T00:00:00Z"}, "range_end"),
        ({"range_start": "2024-01-01T00:00:00Z", "range_end": "2024-01-01T00:00:00Z"}, "range_end"),
        ({"range_start": "0001-01-01T00:00:00+01:00"}, "range_start"),
    ],
)
def test_bad_range_dates_are_400(app, api, changes, field):
    response = create(api, **changes)
    assert response.status_code == 400
    body = response.get_json()
    assert body["code"] == "invalid_audit_log_export_range_date"
    assert [problem["field"] for problem in body["errors"]] == [field]
    assert field in body["message"]
    with app.app_context():
        assert db.session.scalars(select(Export)).all() == []


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"actions": "user.signed_in"}, ["actions"]),
        ({"actions": ["has spaces"]}, ["actions.0"]),
        ({"actor_ids": [""], "targets": [1]}, ["actor_ids.0", "targets.0"]),
        ({"format": "xlsx"}, ["format"]),
        ({"colour": "blue"}, ["colour"]),
        (
            {"actor_names": [f"n{i}" for i in range(30)], "actors": [f"a{i}" for i in range(30)]},
            ["actor_names"],
        ),
        ({"range_start": None}, ["range_start"]),
    ],
)
def test_other_shape_problems_are_422(app, api, body, fields):
    response = create(api, **body)
    assert response.status_code == 422
    assert response.get_json()["code"] == "validation_failed"
    assert [problem["field"] for problem in response.get_json()["errors"]] == fields
    with app.app_context():
        assert db.session.scalars(select(Export)).all() == []


def test_a_missing_range_is_422(api):
    response = api.post("/audit_logs/exports", {"organization_id": api.org_id})
    assert response.status_code == 422
    fields = [problem["field"] for problem in response.get_json()["errors"]]
    assert fields == ["range_start", "range_end"]


def test_another_orgs_exports_are_not_found(app, api, client, make_org, make_key, world):
    globex = make_org("Globex")
    theirs = ApiClient(client, make_key(globex), globex)
    response = create(api, organization_id=globex)
    assert response.status_code == 404
    export_id = create(api).get_json()["id"]
    run_jobs(app)
    missing = theirs.get(f"/audit_logs/exports/{export_id}")
    assert missing.status_code == 404 and missing.get_json()["code"] == "not_found"
    assert theirs.get("/audit_logs/exports/audit_log_export_nothing").status_code == 404
    assert client.get(f"/audit_logs/exports/{export_id}").status_code == 401  # no key


@pytest.fixture
def ready_url(app, api, world):
    """A ready export's signed URL: (export id, path, query arguments)."""
    export_id = create(api).get_json()["id"]
    run_jobs(app)
    url = urlsplit(api.get(f"/audit_logs/exports/{export_id}").get_json()["url"])
    return export_id, url.path, dict(parse_qsl(url.query))


def refused(client, path, args):
    response = client.get(path, query_string=args)
    assert response.status_code == 403, response.status_code
    assert response.mimetype == "application/json"
    assert response.get_json()["code"] == "invalid_download_url"
    assert b"evt_" not in response.get_data()
    return response.get_json()["message"]


def test_altered_or_borrowed_urls_get_403_and_nothing(app, client, api, ready_url):
    export_id, path, args = ready_url
    token = args["token"]
    # The signature's fifth character from the end carries six bits of it (the last one
    # carries padding bits that decoding ignores, so changing it may change nothing).
    flipped = token[:-5] + ("A" if token[-5] != "A" else "B") + token[-4:]
    refused(client, path, {"token": flipped})
    refused(client, path, {"token": ""})
    refused(client, path, {})
    refused(client, path, {"token": token.split(".")[0] + ".x.y"})
    other_id = create(api).get_json()["id"]  # a valid signature for one export opens no other
    refused(client, path.replace(export_id, other_id), args)
    with app.app_context():
        forged = services.URLSafeTimedSerializer("not-the-key", salt=services.URL_SALT)
        refused(client, path, {"token": forged.dumps([export_id, "n"])})
        other_salt = services.URLSafeTimedSerializer(app.config["SECRET_KEY"], salt="other")
        refused(client, path, {"token": other_salt.dumps([export_id, "n"])})
        wrong_shape = services.signer().dumps(export_id)  # signed, but not a URL's payload
        refused(client, path, {"token": wrong_shape})
        assert db.session.scalars(select(ExportDownload)).all() == []


def test_a_head_request_records_no_download(app, client, ready_url):
    _export_id, path, args = ready_url
    response = client.head(path, query_string=args)
    assert response.status_code == 200
    response.close()
    with app.app_context():
        assert db.session.scalars(select(ExportDownload)).all() == []


def test_a_url_expires_after_ten_minutes(app, client, ready_url, monkeypatch):
    _export_id, path, args = ready_url
    with app.app_context():  # the signature's own time (whole seconds), not the clock's
        _payload, issued = services.signer().loads(args["token"], return_timestamp=True)
    monkeypatch.setattr(services, "utcnow", lambda: issued + timedelta(seconds=599))
    ok = client.get(path, query_string=args)
    ok.close()
    assert ok.status_code == 200
    monkeypatch.setattr(services, "utcnow", lambda: issued + timedelta(seconds=601))
    assert "expired" in refused(client, path, args)


def test_an_expired_export_refuses_its_urls(app, client, api, ready_url):
    export_id, path, args = ready_url
    with app.app_context():
        export = db.session.get(Export, export_id)
        services.expire_exports(export.expires_at)
        db.session.commit()
    assert "not ready" in refused(client, path, args)
    body = api.get(f"/audit_logs/exports/{export_id}").get_json()
    assert body["state"] == "expired" and body["url"] is None


def test_a_pending_export_has_no_url_and_its_guessed_urls_are_refused(app, client, api):
    export_id = create(api).get_json()["id"]
    with app.app_context(), app.test_request_context():
        url = urlsplit(services.signed_url(db.session.get(Export, export_id)))
    assert "not ready" in refused(client, url.path, dict(parse_qsl(url.query)))


def test_running_is_shown_as_pending_and_failed_as_error(app, api):
    export_id = create(api).get_json()["id"]
    with app.app_context():
        services.claim_next_export("w", utcnow())
    assert api.get(f"/audit_logs/exports/{export_id}").get_json()["state"] == "pending"
    with app.app_context():
        services.fail(db.session.get(Export, export_id), "broken", utcnow())
        db.session.commit()
    body = api.get(f"/audit_logs/exports/{export_id}").get_json()
    assert body["state"] == "error" and body["url"] is None


# The official SDK, end to end against a live server


@pytest.fixture
def workos(live_server, api_org, make_key):
    return WorkOSClient(
        api_key=make_key(api_org), client_id="unused", base_url=live_server.url, max_retries=0
    )


def test_the_sdk_create_export_get_export_flow(app, workos, api_org, make_events):
    workos.audit_logs.create_schema(
        "user.signed_in", targets=[AuditLogSchemaTargetInput(type="team")]
    )
    ids = make_events(api_org, *WORLD)
    export = workos.audit_logs.create_export(
        organization_id=api_org,
        range_start=utcnow() - timedelta(days=10),
        range_end=(utcnow() + timedelta(minutes=1)).isoformat(),
        actions=["user.signed_in", "user.signed_out", "document.deleted"],
        actor_names=["Alice Smith", "Bob"],
    )
    assert export.state.value == "pending" and export.url is None
    run_jobs(app)
    ready = workos.audit_logs.get_export(export.id)
    assert ready.state.value == "ready" and ready.url.startswith("http://127.0.0.1:")
    response = httpx.get(ready.url)  # as a customer's script would fetch it: no key
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert ids_in(response.content) == [ids[0], ids[1], ids[2]]

    with pytest.raises(NotFoundError):
        workos.audit_logs.get_export("audit_log_export_01ARZ3NDEKTSV4RRFFQ69G5FAV")
    with pytest.raises(BadRequestError) as raised:
        workos.audit_logs.create_export(
            organization_id=api_org, range_start="2024-02-01", range_end="2024-01-01"
        )
    assert raised.value.code == "invalid_audit_log_export_range_date"
    with pytest.raises(UnprocessableEntityError):
        workos.audit_logs.create_export(
            organization_id=api_org, range_start="2024-01-01", range_end="2024-02-01", targets=[""]
        )

"""POST /audit_logs/events and /audit_logs/events/batch through raw HTTP."""

import json

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.ledger.models import Event, EventTarget
from tests.conftest import seed_event

# The events the test sent, not the built-in ones its schema and key changes recorded.
SENT = Event.action.not_like("dashboard.%")


def count_events(app):
    with app.app_context():
        return db.session.scalar(select(func.count()).where(SENT))


def stored(app):
    with app.app_context():
        return db.session.scalars(select(Event).where(SENT).order_by(Event.pk)).all()


def test_seed_event_is_accepted_and_stored_as_sent(app, api, api_org, seed_schema):
    event = seed_event(metadata={"plan": "pro", "seats": 5, "trial": False})
    response = api.post("/audit_logs/events", {"organization_id": api_org, "event": event})
    assert response.status_code == 200
    assert response.get_json() == {"success": True}
    [row] = stored(app)
    assert row.id.startswith("evt_")
    assert row.organization_id == api_org
    assert json.loads(row.payload) == event
    assert row.action == "user.signed_in" and row.version == 1
    assert row.actor_id == "user_01GBNJC3MX9ZZJW1FSTF4C5938"
    assert row.location == "123.123.123.123"
    assert row.received_at is not None
    with app.app_context():
        [target] = db.session.scalars(select(EventTarget)).all()
        assert (target.type, target.target_id) == ("team", "team_01GBNJD4MKHVKJGEWK42JNMBGS")


def test_occurred_at_is_normalised_to_utc(app, api, api_org, seed_schema):
    event = seed_event(occurred_at="2022-08-29T21:47:52.336+02:00")
    assert (
        api.post("/audit_logs/events", {"organization_id": api_org, "event": event}).status_code
        == 200
    )
    [row] = stored(app)
    assert json.loads(row.payload)["occurred_at"] == "2022-08-29T19:47:52.336Z"
    assert row.occurred_at.isoformat() == "2022-08-29T19:47:52.336000+00:00"


SHAPE_CASES = [
    ("event.action", "required", lambda e: e.pop("action")),
    ("event.action", "invalid_format", lambda e: e.update(action="user signed in")),
    ("event.action", "invalid_format", lambda e: e.update(action="a" * 129)),
    ("event.occurred_at", "required", lambda e: e.pop("occurred_at")),
    ("event.occurred_at", "invalid_format", lambda e: e.update(occurred_at="yesterday")),
    ("event.occurred_at", "invalid_format", lambda e: e.update(occurred_at="2022-08-29T19:47:52")),
    ("event.occurred_at", "invalid_type", lambda e: e.update(occurred_at=1661802472)),
    ("event.version", "invalid_type", lambda e: e.update(version="1")),
    ("event.version", "out_of_range", lambda e: e.update(version=0)),
    ("event.actor", "required", lambda e: e.pop("actor")),
    ("event.actor.id", "required", lambda e: e["actor"].pop("id")),
    ("event.actor.type", "invalid_type", lambda e: e["actor"].update(type=5)),
    ("event.actor.id", "too_long", lambda e: e["actor"].update(id="x" * 257)),
    ("event.actor.name", "too_long", lambda e: e["actor"].update(name="x" * 513)),
    ("event.targets", "required", lambda e: e.pop("targets")),
    ("event.targets", "invalid_type", lambda e: e.update(targets={"type": "team"})),
    (
        "event.targets",
        "too_many",
        lambda e: e.update(targets=[{"type": "team", "id": str(i)} for i in range(51)]),
    ),
    ("event.targets.0.id", "required", lambda e: e["targets"][0].pop("id")),
    ("event.context", "required", lambda e: e.pop("context")),
    ("event.context.location", "required", lambda e: e["context"].pop("location")),
    ("event.context.location", "too_long", lambda e: e["context"].update(location="x" * 257)),
    ("event.context.user_agent", "too_long", lambda e: e["context"].update(user_agent="x" * 1025)),
    ("event.metadata", "invalid_type", lambda e: e.update(metadata=[1])),
    ("event.metadata.nested", "invalid_type", lambda e: e.update(metadata={"nested": {"a": 1}})),
    ("event.metadata.list", "invalid_type", lambda e: e.update(metadata={"list": [1]})),
    ("event.metadata.nothing", "invalid_type", lambda e: e.update(metadata={"nothing": None})),
    ("event.metadata.long", "too_long", lambda e: e.update(metadata={"long": "x" * 501})),
    ("event.metadata.bad key", "invalid_format", lambda e: e.update(metadata={"bad key": 1})),
    ("event.metadata." + "k" * 41, "invalid_format", lambda e: e.update(metadata={"k" * 41: 1})),
    ("event.metadata", "too_many", lambda e: e.update(metadata={f"k{i}": i for i in range(51)})),
    ("event.actor.metadata.x", "invalid_type", lambda e: e["actor"].update(metadata={"x": {}})),
    (
        "event.targets.0.metadata.x",
        "invalid_type",
        lambda e: e["targets"][0].update(metadata={"x": []}),
    ),
    ("event.surprise", "unknown_field", lambda e: e.update(surprise=1)),
]


@pytest.mark.parametrize(("field", "code", "change"), SHAPE_CASES)
def test_shape_violations_are_422_and_store_nothing(
    app, api, api_org, seed_schema, field, code, change
):
    event = seed_event()
    change(event)
    response = api.post("/audit_logs/events", {"organization_id": api_org, "event": event})
    assert response.status_code == 422
    body = response.get_json()
    assert body["code"] == "validation_failed"
    assert body["message"] == "Validation failed."
    assert {"field": field, "code": code} in [
        {"field": e["field"], "code": e["code"]} for e in body["errors"]
    ]
    assert all(e["message"] for e in body["errors"])
    assert count_events(app) == 0


def test_all_shape_problems_are_reported_at_once(api, api_org, seed_schema):
    event = seed_event(action="bad action", occurred_at="nope")
    del event["actor"]["id"]
    event["context"] = {}
    response = api.post("/audit_logs/events", {"organization_id": api_org, "event": event, "x": 1})
    fields = {e["field"] for e in response.get_json()["errors"]}
    assert fields == {
        "event.action",
        "event.occurred_at",
        "event.actor.id",
        "event.context.location",
        "x",
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [({}, "organization_id"), ({"organization_id": 5}, "organization_id"), ([], "")],
)
def test_request_shape_violations(api, body, field):
    response = api.post("/audit_logs/events", body)
    assert response.status_code == 422
    assert field in [e["field"] for e in response.get_json()["errors"]]


def test_unconfigured_action_is_400_naming_action_and_version(app, api, api_org, seed_schema):
    response = api.post(
        "/audit_logs/events",
        {"organization_id": api_org, "event": seed_event(action="x.y", version=2)},
    )
    assert response.status_code == 400
    body = response.get_json()
    assert body["code"] == "invalid_audit_log_event"
    assert body["message"] == "Invalid Audit Log event."
    assert body["errors"] == [
        {"instancePath": "/action", "message": "event 'x.y', version '2' has not been configured"}
    ]
    assert count_events(app) == 0


def test_unconfigured_version_is_400(api, api_org, seed_schema):
    response = api.post(
        "/audit_logs/events", {"organization_id": api_org, "event": seed_event(version=2)}
    )
    assert response.status_code == 400
    assert "version '2' has not been configured" in response.get_json()["errors"][0]["message"]


def test_target_types_must_match_the_schema(app, api, api_org, seed_schema):
    event = seed_event(targets=[{"type": "user", "id": "u1"}])
    response = api.post("/audit_logs/events", {"organization_id": api_org, "event": event})
    assert response.status_code == 400
    errors = response.get_json()["errors"]
    paths = [e["instancePath"] for e in errors]
    assert paths == ["/targets/0/type", "/targets"]
    assert "'user' is not allowed" in errors[0]["message"]
    assert "needs at least one target of type 'team'" in errors[1]["message"]
    assert count_events(app) == 0


def test_repeated_and_multiple_target_types(api, api_org):
    api.post(
        "/audit_logs/actions/doc.shared/schemas",
        {"targets": [{"type": "document"}, {"type": "user"}]},
    )
    event = seed_event(
        action="doc.shared",
        targets=[
            {"type": "document", "id": "d1"},
            {"type": "user", "id": "u1"},
            {"type": "user", "id": "u2"},
        ],
    )
    assert (
        api.post("/audit_logs/events", {"organization_id": api_org, "event": event}).status_code
        == 200
    )


def test_metadata_json_schemas_are_enforced(app, api, api_org):
    definition = {
        "targets": [
            {
                "type": "team",
                "metadata": {
                    "type": "object",
                    "properties": {"size": {"type": "number"}},
                    "required": ["size"],
                },
            }
        ],
        "actor": {
            "metadata": {
                "type": "object",
                "properties": {"role": {"type": "string"}},
                "required": ["role"],
            }
        },
        "metadata": {"type": "object", "properties": {"sso": {"type": "boolean"}}},
    }
    assert api.post("/audit_logs/actions/user.signed_in/schemas", definition).status_code == 201
    bad = seed_event(metadata={"sso": "yes"})
    response = api.post("/audit_logs/events", {"organization_id": api_org, "event": bad})
    assert response.status_code == 400
    errors = {e["instancePath"]: e["message"] for e in response.get_json()["errors"]}
    assert errors == {
        "/targets/0/metadata": "'size' is a required property",
        "/actor/metadata": "'role' is a required property",
        "/metadata/sso": "'yes' is not of type 'boolean'",
    }
    good = seed_event(
        metadata={"sso": True},
        actor={"type": "user", "id": "u", "metadata": {"role": "owner"}},
        targets=[{"type": "team", "id": "t", "metadata": {"size": 3}}],
    )
    assert (
        api.post("/audit_logs/events", {"organization_id": api_org, "event": good}).status_code
        == 200
    )
    assert count_events(app) == 1


def test_batch_stores_all_events(app, api, api_org, seed_schema):
    events = [seed_event(actor={"type": "user", "id": f"user_{i}"}) for i in range(25)]
    response = api.post("/audit_logs/events/batch", {"organization_id": api_org, "events": events})
    assert response.status_code == 200
    assert response.get_json() == {"success": True, "count": 25}
    rows = stored(app)
    assert [json.loads(r.payload)["actor"]["id"] for r in rows] == [f"user_{i}" for i in range(25)]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(EventTarget)) == 25


def test_batch_is_all_or_nothing_with_every_problem_listed(app, api, api_org, seed_schema):
    events = [
        seed_event(),
        seed_event(action="nope"),
        seed_event(targets=[{"type": "x", "id": "1"}]),
    ]
    response = api.post("/audit_logs/events/batch", {"organization_id": api_org, "events": events})
    assert response.status_code == 400
    paths = [e["instancePath"] for e in response.get_json()["errors"]]
    assert paths == ["/events/1/action", "/events/2/targets/0/type", "/events/2/targets"]
    assert count_events(app) == 0


def test_batch_shape_problems_name_the_event(app, api, api_org, seed_schema):
    events = [seed_event(), seed_event(occurred_at="nope")]
    response = api.post("/audit_logs/events/batch", {"organization_id": api_org, "events": events})
    assert response.status_code == 422
    assert [e["field"] for e in response.get_json()["errors"]] == ["events.1.occurred_at"]
    assert count_events(app) == 0


@pytest.mark.parametrize(("size", "status"), [(0, 422), (1001, 422)])
def test_batch_size_limits(api, api_org, seed_schema, size, status):
    events = [seed_event()] * size
    response = api.post("/audit_logs/events/batch", {"organization_id": api_org, "events": events})
    assert response.status_code == status


def test_malformed_json_is_400(app, api):
    response = api.post(
        "/audit_logs/events", data="{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.get_json()["code"] == "invalid_json"


def test_nan_is_not_json(api, api_org):
    response = api.post(
        "/audit_logs/events",
        data='{"organization_id": NaN}',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400


def test_non_json_content_type_is_415(api):
    response = api.post(
        "/audit_logs/events",
        data="a=b",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 415
    assert response.get_json()["code"] == "unsupported_media_type"


def test_body_over_one_mebibyte_is_413(app, api, api_org):
    huge = json.dumps(
        {"organization_id": api_org, "event": seed_event(metadata={"x": "y" * (1024 * 1024)})}
    )
    response = api.post(
        "/audit_logs/events", data=huge, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.get_json()["code"] == "payload_too_large"
    assert count_events(app) == 0


def test_another_organization_is_404_and_stores_nothing(app, api, make_org, seed_schema):
    other = make_org("Globex")
    response = api.post("/audit_logs/events", {"organization_id": other, "event": seed_event()})
    assert response.status_code == 404
    assert response.get_json()["message"] == f"Organization not found: '{other}'."
    response = api.post(
        "/audit_logs/events/batch", {"organization_id": other, "events": [seed_event()]}
    )
    assert response.status_code == 404
    assert count_events(app) == 0


def test_unknown_organization_is_404(api):
    response = api.post(
        "/audit_logs/events", {"organization_id": "org_nope", "event": seed_event()}
    )
    assert response.status_code == 404


def test_schemas_of_another_organization_do_not_apply(
    api, make_org, make_key, client, api_org, seed_schema
):
    from tests.conftest import ApiClient

    other = make_org("Globex")
    other_api = ApiClient(client, make_key(other))
    response = other_api.post(
        "/audit_logs/events", {"organization_id": other, "event": seed_event()}
    )
    assert response.status_code == 400
    assert "has not been configured" in response.get_json()["errors"][0]["message"]


@pytest.mark.parametrize(
    "occurred_at",
    [
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
        "1899-12-31T23:59:59Z",
        "3000-01-01T00:00:00Z",
    ],
)
def test_times_outside_the_accepted_years_are_422(app, api, api_org, seed_schema, occurred_at):
    event = seed_event(occurred_at=occurred_at)
    response = api.post("/audit_logs/events", {"organization_id": api_org, "event": event})
    assert response.status_code == 422
    [error] = response.get_json()["errors"]
    assert (error["field"], error["code"]) == ("event.occurred_at", "out_of_range")
    assert "between 1900-01-01 and 2999-12-31" in error["message"]
    assert count_events(app) == 0


def test_nul_characters_are_refused(app, api, api_org, seed_schema):
    event = seed_event(actor={"type": "user", "id": "a\u0000b"})
    response = api.post("/audit_logs/events", {"organization_id": api_org, "event": event})
    assert response.status_code == 400
    assert "NUL" in response.get_json()["message"]
    assert count_events(app) == 0

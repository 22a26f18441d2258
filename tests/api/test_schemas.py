"""Schemas API: create versions, list actions and versions."""

import pytest

from tests.conftest import ApiClient

TEAM = {"targets": [{"type": "team"}]}
META = {"type": "object", "properties": {"plan": {"type": "string"}}, "required": ["plan"]}


def test_create_returns_version_1_then_identical_returns_it_again(api):
    first = api.post("/audit_logs/actions/user.signed_in/schemas", TEAM)
    assert first.status_code == 201
    body = first.get_json()
    assert body["object"] == "audit_log_schema"
    assert body["version"] == 1
    assert body["targets"] == [{"type": "team"}]
    assert "actor" not in body and "metadata" not in body
    assert body["created_at"].endswith("Z") and len(body["created_at"]) == 24
    again = api.post("/audit_logs/actions/user.signed_in/schemas", TEAM)
    assert again.status_code == 200
    assert again.get_json() == body


def test_a_different_body_creates_the_next_version(api):
    api.post("/audit_logs/actions/user.signed_in/schemas", TEAM)
    second = api.post(
        "/audit_logs/actions/user.signed_in/schemas",
        {
            "targets": [{"type": "team", "metadata": META}],
            "actor": {"metadata": META},
            "metadata": META,
        },
    )
    assert second.status_code == 201
    body = second.get_json()
    assert body["version"] == 2
    assert body["targets"] == [{"type": "team", "metadata": META}]
    assert body["actor"] == {"metadata": META}
    assert body["metadata"] == META


INVALID = [
    ({}, "targets"),
    ({"targets": []}, "targets"),
    ({"targets": [{}]}, "targets.0.type"),
    ({"targets": [{"type": "team"}, {"type": "team"}]}, "targets.1.type"),
    ({"targets": [{"type": "team"}], "extra": 1}, "extra"),
    ({"targets": [{"type": "team"}], "actor": {}}, "actor.metadata"),
    ({"targets": [{"type": "team"}], "metadata": {"type": "array"}}, "metadata.type"),
    (
        {
            "targets": [{"type": "team"}],
            "metadata": {"type": "object", "properties": {"a": {"type": "object"}}},
        },
        "metadata.properties.a.type",
    ),
    (
        {
            "targets": [{"type": "team"}],
            "metadata": {"type": "object", "properties": {"a": {"type": "array"}}},
        },
        "metadata.properties.a.type",
    ),
    ({"targets": [{"type": "team", "metadata": {"type": 5}}]}, "targets.0.metadata"),
    (
        {"targets": [{"type": "team"}], "metadata": {"type": "object", "required": ["ghost"]}},
        "metadata.required",
    ),
    ([], ""),
]


@pytest.mark.parametrize(("body", "field"), INVALID)
def test_invalid_definitions_are_422_and_create_nothing(api, body, field):
    response = api.post("/audit_logs/actions/user.signed_in/schemas", body)
    assert response.status_code == 422, response.get_json()
    payload = response.get_json()
    assert payload["code"] == "validation_failed"
    assert field in [e["field"] for e in payload["errors"]]
    assert api.get("/audit_logs/actions").get_json()["data"] == []


def test_an_invalid_action_name_is_422(api):
    response = api.post("/audit_logs/actions/has space/schemas", TEAM)
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["field"] == "action"


def test_list_actions_with_latest_schema(api):
    api.post("/audit_logs/actions/user.signed_in/schemas", TEAM)
    api.post(
        "/audit_logs/actions/user.signed_in/schemas",
        {"targets": [{"type": "team"}, {"type": "user"}]},
    )
    api.post("/audit_logs/actions/doc.created/schemas", {"targets": [{"type": "document"}]})
    body = api.get("/audit_logs/actions").get_json()
    assert body["object"] == "list"
    assert [a["name"] for a in body["data"]] == ["doc.created", "user.signed_in"]  # newest first
    signed_in = body["data"][1]
    assert signed_in["object"] == "audit_log_action"
    assert signed_in["schema"]["version"] == 2
    assert signed_in["created_at"] <= signed_in["updated_at"]
    assert body["list_metadata"] == {"before": None, "after": None}
    ascending = api.get("/audit_logs/actions?order=asc").get_json()
    assert [a["name"] for a in ascending["data"]] == ["user.signed_in", "doc.created"]


def test_list_actions_pages_with_cursors_both_ways(api):
    names = [f"action.n{i:02d}" for i in range(7)]
    for name in names:
        api.post(f"/audit_logs/actions/{name}/schemas", TEAM)
    newest_first = list(reversed(names))
    first = api.get("/audit_logs/actions?limit=3").get_json()
    assert [a["name"] for a in first["data"]] == newest_first[:3]
    assert first["list_metadata"]["before"] is None
    second = api.get(
        f"/audit_logs/actions?limit=3&after={first['list_metadata']['after']}"
    ).get_json()
    assert [a["name"] for a in second["data"]] == newest_first[3:6]
    third = api.get(
        f"/audit_logs/actions?limit=3&after={second['list_metadata']['after']}"
    ).get_json()
    assert [a["name"] for a in third["data"]] == newest_first[6:]
    assert third["list_metadata"]["after"] is None
    back = api.get(
        f"/audit_logs/actions?limit=3&before={second['list_metadata']['before']}"
    ).get_json()
    assert [a["name"] for a in back["data"]] == newest_first[:3]
    assert back["list_metadata"]["before"] is None


@pytest.mark.parametrize(
    "query",
    ["limit=0", "limit=101", "limit=x", "order=sideways", "after=garbage", "before=a&after=b"],
)
def test_invalid_list_parameters_are_422(api, query):
    response = api.get(f"/audit_logs/actions?{query}")
    assert response.status_code == 422
    assert response.get_json()["errors"]


def test_list_versions_of_an_action(api):
    api.post("/audit_logs/actions/user.signed_in/schemas", TEAM)
    api.post("/audit_logs/actions/user.signed_in/schemas", {"targets": [{"type": "user"}]})
    body = api.get("/audit_logs/actions/user.signed_in/schemas").get_json()
    assert [s["version"] for s in body["data"]] == [2, 1]
    assert body["list_metadata"] == {"before": None, "after": None}


def test_versions_of_an_unknown_action_is_404(api):
    assert api.get("/audit_logs/actions/nope/schemas").status_code == 404


def test_another_organizations_actions_are_invisible(api, client, make_org, make_key):
    api.post("/audit_logs/actions/user.signed_in/schemas", TEAM)
    other = ApiClient(client, make_key(make_org("Globex")))
    assert other.get("/audit_logs/actions").get_json()["data"] == []
    assert other.get("/audit_logs/actions/user.signed_in/schemas").status_code == 404
    # Its own version 1 is independent of ours.
    response = other.post(
        "/audit_logs/actions/user.signed_in/schemas", {"targets": [{"type": "user"}]}
    )
    assert response.status_code == 201 and response.get_json()["version"] == 1


def test_an_overlarge_cursor_is_422(api):
    import base64

    cursor = base64.urlsafe_b64encode(b"c1:99999999999999999999").decode().rstrip("=")
    assert api.get(f"/audit_logs/actions?after={cursor}").status_code == 422

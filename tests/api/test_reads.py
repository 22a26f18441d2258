"""``GET /audit_logs/events`` and ``GET /audit_logs/events/{id}``: the viewer's filters,
the contract's list and cursors keyed on ``seq`` (no repeat, no gap while events are
added), each event as the NDJSON export carries it, one audit event per read."""

import json
from datetime import timedelta
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import select

from app.events import sequence
from app.extensions import db
from app.ledger.models import Event
from app.timestamps import isoformat, utcnow
from tests.conftest import ApiClient, seed_event
from tests.filter_cases import WORLD

READ = "dashboard.events_read"


@pytest.fixture(autouse=True, params=["few candidates", "walk seq"])
def plan(request, monkeypatch):
    """Every test under both of app/events/sequence.py's ways of finding a page: reading
    the candidates of the most selective filter, and (no filter allowing ``CAP`` = 0
    events) walking seq with every filter tested."""
    if request.param == "walk seq":
        monkeypatch.setattr(sequence, "CAP", 0)
    return request.param


@pytest.fixture
def world(api, make_events):
    """WORLD stored in the key's organization: ids in WORLD's order (seq 1 to 7)."""
    return make_events(api.org_id, *WORLD)


def sent(body):
    """The ids of the sent events in a list body (not the reads it recorded)."""
    return [e["id"] for e in body["data"] if not e["action"].startswith("dashboard.")]


def read(api, query="", **params):
    response = api.get(f"/audit_logs/events?{query or urlencode(params, doseq=True)}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def reads_recorded(app, org_id):
    with app.app_context():
        return [
            json.loads(payload)
            for payload in db.session.scalars(
                select(Event.payload)
                .where(Event.organization_id == org_id, Event.action == READ)
                .order_by(Event.seq)
            )
        ]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, [6, 5, 4, 3, 2, 1, 0]),
        ({"actions": ["user.signed_in", "invoice.paid"]}, [5, 4, 0]),
        ({"actions[]": ["document.deleted"]}, [2]),
        ({"actor_names": ["Bob"]}, [5, 2]),
        ({"actor_ids": ["user_alice"], "targets": ["team"]}, [1, 0]),
        ({"targets": ["invoice", "document"]}, [4, 3, 2]),
        ({"actions": ["document.viewed"], "actor_ids": ["svc_backup", "user_alice"]}, [6, 3]),
        ({"q": "Budget"}, [2]),
        ({"q": "Alice", "actions": ["user.signed_out"]}, [1]),
        ({"range_start": isoformat(utcnow() - timedelta(hours=24))}, [2, 1, 0]),
        ({"range_end": isoformat(utcnow() - timedelta(days=10))}, [6, 5]),
        (
            {
                "range_start": isoformat(utcnow() - timedelta(days=7)),
                "range_end": isoformat(utcnow() - timedelta(hours=1)),
            },
            [4, 3, 2],
        ),
    ],
)
def test_filters_select_what_the_viewer_selects(api, world, params, expected):
    body = read(api, limit=100, **params)
    assert sent(body) == [world[i] for i in expected]


def test_each_event_is_the_ndjson_exports_record(app, api, world):
    body = read(api, limit=1, order="asc")
    assert set(body) == {"object", "data", "list_metadata"} and body["object"] == "list"
    (record,) = body["data"]
    assert record["id"] == world[0] and record["seq"] == 1
    assert record["prev_hash"] == "0" * 64 and len(record["hash"]) == 64
    assert record["organization_id"] == api.org_id
    assert record["received_at"].endswith("Z") and record["actor"]["name"] == "Alice Smith"
    single = api.get(f"/audit_logs/events/{world[0]}")
    assert single.status_code == 200 and single.mimetype == "application/json"
    assert single.get_json() == record


ACTIONS = [
    "user.signed_in",
    "user.signed_out",
    "document.deleted",
    "document.viewed",
    "invoice.paid",
]


def test_paging_forwards_and_back_in_both_orders(api, world):
    for order, expected in (("desc", world[::-1]), ("asc", world)):
        seen, after, last = [], None, None
        while True:
            body = read(
                api, limit=3, order=order, actions=ACTIONS, **({"after": after} if after else {})
            )
            if body["data"]:
                last = body
            seen += sent(body)
            previous, after = after, body["list_metadata"]["after"]
            if order == "asc" and not body["data"]:
                # A poll: at the end, the cursor it was given, to come back with.
                assert after == previous
                break
            if after is None:
                break
        assert seen == expected
        back = read(
            api, limit=3, order=order, before=last["list_metadata"]["before"], actions=ACTIONS
        )
        assert sent(back) == expected[3:6]


def test_a_range_pages_in_seq_order_though_times_are_out_of_order(api, make_events):
    """Old events sent among new ones (a backfill) are in their range's pages, in seq
    order, a page at a time either way; a range no event is in lists nothing."""
    ago = [3, 20, 3, 21, 0, 20, 22, 3]  # days before now, in the order sent
    ids = make_events(
        api.org_id,
        *(seed_event(occurred_at=isoformat(utcnow() - timedelta(days=d, hours=1))) for d in ago),
    )
    in_range = [i for i, d in zip(ids, ago, strict=True) if 10 <= d <= 21]
    span = {
        "range_start": isoformat(utcnow() - timedelta(days=22)),
        "range_end": isoformat(utcnow() - timedelta(days=10)),
    }
    for order, expected in (("desc", in_range[::-1]), ("asc", in_range)):
        seen, after = [], None
        while True:
            body = read(api, limit=1, order=order, **span, **({"after": after} if after else {}))
            seen += sent(body)
            after = body["list_metadata"]["after"]
            if after is None or not body["data"]:
                break
        assert seen == expected
    empty = {"range_start": "2001-01-01T00:00:00Z", "range_end": "2001-02-01T00:00:00Z"}
    assert read(api, **empty)["data"] == []


def test_an_ascending_list_is_a_poll(api, world, make_events):
    body = read(api, limit=100, order="asc", actions=ACTIONS)
    assert sent(body) == world
    after = body["list_metadata"]["after"]
    assert after is not None  # the last page still says where to go on from
    empty = read(api, order="asc", after=after, actions=ACTIONS)
    assert sent(empty) == [] and empty["list_metadata"]["after"] == after
    newer = make_events(api.org_id, seed_event(), seed_event())
    pulled = read(api, order="asc", after=after, actions=ACTIONS)
    assert sent(pulled) == newer
    assert (
        read(api, order="asc", after=pulled["list_metadata"]["after"], actions=ACTIONS)["data"]
        == []
    )
    # A descending list ends with no cursor, as the contract's lists do.
    assert read(api, limit=100, actions=ACTIONS)["list_metadata"]["after"] is None


def test_paging_while_events_are_added_repeats_and_skips_nothing(app, api, make_events):
    batch = [seed_event(metadata={"n": i}) for i in range(250)]
    before = make_events(api.org_id, *batch)
    seen, after, added = [], None, []
    while True:
        body = read(
            api, limit=37, actions=["user.signed_in"], **({"after": after} if after else {})
        )
        seen += sent(body)
        added += make_events(api.org_id, seed_event(), seed_event())  # between every two pages
        after = body["list_metadata"]["after"]
        if after is None:
            break
    assert len(seen) == len(set(seen))
    assert seen[-250:] == before[::-1]  # every event there at the start, once, in order
    assert set(seen) - set(before) <= set(added)
    # A pull in ascending order from a cursor gets exactly what came after it.
    head = read(api, limit=1, order="desc", actions=["user.signed_in"])
    mark = head["data"][0]["seq"]
    newer = make_events(api.org_id, seed_event(), seed_event())
    pulled = read(api, order="asc", after=_cursor_for(mark), actions=["user.signed_in"])
    assert sent(pulled) == newer


def _cursor_for(seq):
    from app.api.pagination import encode_cursor

    return encode_cursor(seq)


def test_one_audit_event_per_read_and_none_for_a_refused_one(app, api, world):
    read(api, limit=100, actions=["user.signed_in"], q="Alice")
    api.get(f"/audit_logs/events/{world[1]}")
    assert api.get("/audit_logs/events?limit=0").status_code == 422
    assert api.get("/audit_logs/events/evt_01HZZZZZZZZZZZZZZZZZZZZZZZ").status_code == 404
    listed, single = reads_recorded(app, api.org_id)
    assert listed["actor"]["type"] == "api_key"
    assert listed["metadata"] == {
        "endpoint": "GET /audit_logs/events",
        "filters": "actions=user.signed_in&q=Alice",
        "returned": 1,
    }
    assert single["metadata"] == {"endpoint": "GET /audit_logs/events/{id}", "returned": 1}
    assert single["targets"] == [
        {"type": "audit_log_event", "id": world[1], "name": "user.signed_out"}
    ]


def test_a_poll_of_everything_comes_up_empty_though_each_read_is_recorded(
    client, api, world, make_key
):
    body = read(api, limit=100, order="asc")
    assert sent(body) == world and len(body["data"]) == len(world)
    after = body["list_metadata"]["after"]
    for _ in range(3):  # each poll records a read, which the key's next poll leaves out
        again = read(api, order="asc", after=after)
        assert again["data"] == [] and again["list_metadata"]["after"] == after
    # Another key of the organization (the compliance team's SIEM) lists those reads.
    auditor = ApiClient(client, make_key(api.org_id, "Auditor"), api.org_id)
    reads = [e for e in read(auditor, limit=100)["data"] if e["action"] == READ]
    assert len(reads) == 4 and {e["actor"]["type"] for e in reads} == {"api_key"}


@pytest.mark.parametrize(
    ("query", "fields"),
    [
        ("range_start=yesterday", ["range_start"]),
        ("range_start=2030-01-01T00:00:00Z&range_end=2020-01-01T00:00:00Z", ["range_end"]),
        ("range_end=1800-01-01", ["range_end"]),
        ("actions=not%20an%20action", ["actions"]),
        ("q=ab", ["q"]),
        ("q=" + "x" * 300, ["q"]),
        ("actor_ids=" + "x" * 300, ["actor_ids"]),
        ("actor_names=a%00b", ["actor_names"]),
        ("&".join(f"targets=t{i}" for i in range(51)), ["targets"]),
        ("action=user.signed_in", ["action"]),  # the viewer's name, not the API's
        ("limit=101", ["limit"]),
        ("order=sideways", ["order"]),
        ("after=bm9wZQ", ["after"]),
        ("before=YzE6MQ&after=YzE6Mg", ["before"]),
    ],
)
def test_bad_parameters_are_422_naming_each(app, api, world, query, fields):
    response = api.get(f"/audit_logs/events?{query}")
    assert response.status_code == 422, response.get_data(as_text=True)
    body = response.get_json()
    assert body["code"] == "validation_failed"
    assert [problem["field"] for problem in body["errors"]] == fields
    assert reads_recorded(app, api.org_id) == []


def test_another_organizations_key_reads_nothing_of_this_one(
    app, client, api, world, make_org, make_key
):
    other = make_org("Globex")
    theirs = ApiClient(client, make_key(other), other)
    assert sent(read(theirs, limit=100)) == []
    assert theirs.get(f"/audit_logs/events/{world[0]}").status_code == 404
    assert client.get("/audit_logs/events").status_code == 401
    assert reads_recorded(app, api.org_id) == []  # their read is in their own log
    assert len(reads_recorded(app, other)) == 1


def test_over_http_with_an_http_client(live_server, api, world):
    with httpx.Client(base_url=live_server.url, headers=api.headers()) as http:
        response = http.get(
            "/audit_logs/events", params={"limit": 2, "actions": ["user.signed_in"]}
        )
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert sent(response.json()) == [world[5], world[0]]

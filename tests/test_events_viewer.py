"""The event viewer: filters, keyset pages, htmx partials, the detail, safety across orgs."""

import base64
import itertools
import random
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest
from werkzeug.datastructures import MultiDict

from app.events import pages
from app.events.filters import EventFilter
from app.orgs.models import Role
from tests import filter_cases
from tests.filter_cases import FILTER_CASES, WORLD, event


@pytest.fixture
def store(make_events):
    """Store events in an organization: their ids, in the order given."""
    return make_events


def ids_on(html):
    """The event ids the list shows, in order."""
    return list(dict.fromkeys(re.findall(r'/events/(evt_[0-9A-Z]{26})"', html)))


@pytest.fixture
def viewer(org_admin, client):
    """The signed-in admin's organization and a way to open its event list."""

    def open_(query="", headers=None):
        return client.get(f"/orgs/{org_admin}/events{query}", headers=headers or {})

    open_.org_id = org_admin
    return open_


@pytest.fixture
def world(viewer, store):
    """WORLD stored in the viewer's organization: ids in WORLD's order."""
    return store(viewer.org_id, *WORLD)


@pytest.mark.parametrize(("query", "expected"), FILTER_CASES)
def test_filters_select_exactly_the_matching_events(viewer, world, query, expected):
    response = viewer(query)
    assert response.status_code == 200
    assert ids_on(response.get_data(as_text=True)) == [world[i] for i in expected]


def test_custom_range_includes_from_and_excludes_until(viewer, world):
    start = (filter_cases.NOW - timedelta(minutes=60 * 30)).strftime("%Y-%m-%dT%H:%M")
    until = (filter_cases.NOW - timedelta(minutes=50)).strftime("%Y-%m-%dT%H:%M:%S")
    html = viewer(f"?range=custom&from={start}&until={until}").get_data(as_text=True)
    assert ids_on(html) == [world[2], world[3]]


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("?q=ab", "q", "Type at least 3 characters."),
        ("?range=custom&from=yesterday", "from", "Use a date and time"),
        ("?range=custom&from=2024-05-02T00:00&until=2024-05-01T00:00", "until", "Must be later"),
        ("?range=fortnight", "range", "Choose one of the listed ranges."),
        ("?action=<script>", "action", "Action names are letters"),
        ("?range=custom&from=0001-01-01T00:00%2B01:00", "from", "between 1900-01-01"),
        ("?range=custom&until=9999-12-31", "until", "between 1900-01-01"),
        ("?actor=a%00b", "actor", "Remove the NUL character."),
        ("?q=Bob%1FQ3", "q", "Remove tabs, line breaks and other control characters."),
    ],
)
def test_invalid_filters_are_explained_beside_their_field(viewer, world, query, field, message):
    response = viewer(query)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    error = re.search(rf'id="filter-error-{field}"[^>]*>([^<]*)<', html)
    assert error and message in error.group(1)
    assert len(ids_on(html)) == len(WORLD)  # the valid filters (none) still apply


def test_the_list_shows_each_events_essentials_newest_first(viewer, world):
    html = viewer().get_data(as_text=True)
    row = html[html.index(world[0]) - 600 : html.index(world[0]) + 900]
    assert 'datetime="' in row and "UTC</time>" in row
    assert "Alice Smith" in row and ">user<" in row  # the actor's name, then its type
    assert "Red Team" in row  # the target's name (its id when it has none)
    assert "123.123.123.123" in row
    nameless = html[html.index(world[3]) : html.index(world[3]) + 900]
    assert "svc_backup" in nameless and "doc_9" in nameless


def test_load_more_pages_through_everything_once(viewer, store, client):
    ids = store(viewer.org_id, *[event(minutes_ago=i) for i in range(120)])
    newest_first = ids  # event(0) is the newest
    html = viewer().get_data(as_text=True)
    seen = ids_on(html)
    assert len(seen) == pages.PAGE_SIZE
    while True:
        more = re.search(r'hx-get="([^"]*after=[^"]*)"', html)
        if not more:
            break
        response = client.get(more.group(1).replace("&amp;", "&"), headers={"HX-Request": "true"})
        html = response.get_data(as_text=True)
        assert "<html" not in html and "<tr" in html
        assert 'id="load-more"' in html and 'hx-swap-oob="true"' in html
        seen += ids_on(html)
    assert seen == newest_first
    assert "That is every event matching these filters." in html


def test_events_arriving_while_paging_are_neither_repeated_nor_skipped(app, viewer, store):
    old = store(viewer.org_id, *[event(minutes_ago=100 + i) for i in range(60)])

    def page_after(cursor):
        with app.app_context():
            return pages.event_page(viewer.org_id, EventFilter(), after=cursor, limit=25)

    first = page_after(None)
    # Newer events arrive, and one older event that falls after the cursor.
    store(viewer.org_id, *[event(minutes_ago=i) for i in range(30)])
    late = store(viewer.org_id, event(minutes_ago=130.5))[0]
    second = page_after(first.next_cursor)
    third = page_after(second.next_cursor)
    shown = [e.id for p in (first, second, third) for e in p.events]
    assert shown == [*old[:31], late, *old[31:]]
    assert third.next_cursor is None


def test_events_with_the_same_time_page_by_id(app, viewer, store):
    ids = store(viewer.org_id, *[event(minutes_ago=1) for _ in range(7)])
    with app.app_context():
        seen, cursor = [], None
        while True:
            page = pages.event_page(viewer.org_id, EventFilter(), after=cursor, limit=3)
            seen += [e.id for e in page.events]
            cursor = page.next_cursor
            if cursor is None:
                break
    assert seen == sorted(ids, reverse=True)


def test_an_actor_prefix_matching_ids_and_names_pages_each_event_once(app, viewer, store):
    """ "Robo" is the prefix of actor ids and of actor names, some on the same event: the
    branches of the walk must not repeat it, on any page."""
    actors = [("Robo_1", "Robo One"), ("Robo_2", None), ("user_9", "Robot Nine"), ("user_8", "")]
    ids = store(
        viewer.org_id,
        *[event(minutes_ago=i, actor=actors[i % 4][0], name=actors[i % 4][1]) for i in range(40)],
    )
    expected = [event_id for i, event_id in enumerate(ids) if i % 4 != 3]
    with app.app_context():
        assert isinstance(
            pages.Driver.choose(viewer.org_id, EventFilter(actor="Robo"), "any"),
            pages.ActorDriver,
        )
        seen, cursor = [], None
        while True:
            page = pages.event_page(viewer.org_id, EventFilter(actor="Robo"), after=cursor, limit=7)
            seen += [e.id for e in page.events]
            cursor = page.next_cursor
            if cursor is None:
                break
    assert seen == expected


def test_a_forged_cursor_is_refused(viewer, world):
    assert viewer("?after=not-a-cursor").status_code == 400
    overflowing = base64.urlsafe_b64encode(b"0001-01-01T00:00:00+01:00|evt_0").decode()
    assert viewer(f"?after={overflowing}").status_code == 400


def test_filters_round_trip_through_the_url(viewer, world, client):
    query = (
        "?range=7d&action=user.signed_in&action=user.signed_out&actor=user_&target_type=team&q=ali"
    )
    response = viewer(query, headers={"HX-Request": "true"})
    pushed = response.headers["HX-Push-Url"]
    assert pushed.startswith(f"/orgs/{viewer.org_id}/events?")
    reloaded = client.get(pushed)
    assert ids_on(reloaded.get_data(as_text=True)) == ids_on(response.get_data(as_text=True))
    assert ids_on(response.get_data(as_text=True)) == [world[0], world[1]]
    pushed_args = MultiDict(parse_qsl(urlsplit(pushed).query))
    assert (
        EventFilter.from_args(pushed_args).to_args()
        == EventFilter.from_args(MultiDict(parse_qsl(query[1:]))).to_args()
    )
    page = reloaded.get_data(as_text=True)
    assert 'value="user_"' in page and 'value="ali"' in page
    assert 'value="user.signed_out" checked' in page
    assert '<option value="7d" selected>' in page


def test_empty_values_leave_the_pushed_url_clean(viewer, world):
    response = viewer("?range=&actor=&q=&target_type=&target_id=", headers={"HX-Request": "true"})
    assert response.headers["HX-Push-Url"] == f"/orgs/{viewer.org_id}/events"


def test_htmx_gets_the_results_partial_and_history_restore_the_page(viewer, world):
    full = viewer()
    assert "HX-Request" in full.headers["Vary"]
    assert "<html" in full.get_data(as_text=True)
    partial = viewer("?q=alice", headers={"HX-Request": "true"})
    html = partial.get_data(as_text=True)
    assert "HX-Request" in partial.headers["Vary"]
    assert "<html" not in html and html.lstrip().startswith('<section id="event-results"')
    assert 'id="filter-error-q" role="alert" hx-swap-oob="true"' in html
    restore = viewer(
        "?q=alice", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"}
    )
    assert "<html" in restore.get_data(as_text=True)
    assert "HX-Push-Url" not in restore.headers


def test_no_events_yet_shows_how_to_send_one(viewer):
    html = viewer().get_data(as_text=True)
    assert "No events yet" in html
    assert f'"organization_id": "{viewer.org_id}"' in html.replace("&#34;", '"')
    assert f"/orgs/{viewer.org_id}/schemas" in html


def test_no_match_offers_to_clear_the_filters(viewer, world):
    html = viewer("?actor=nobody").get_data(as_text=True)
    assert "No events match these filters" in html
    assert "Clear all filters" in html
    assert "No events yet" not in html


def test_the_detail_shows_every_field(viewer, store, client):
    [event_id] = store(
        viewer.org_id,
        event(
            1,
            actor="user_dan",
            name="Dan",
            targets=[{"type": "team", "id": "team_7", "name": "Seven", "metadata": {"size": 7}}],
            metadata={"plan": "pro", "trial": False},
        ),
    )
    url = f"/orgs/{viewer.org_id}/events/{event_id}"
    html = client.get(url).get_data(as_text=True)
    for text in (
        "user_dan",
        "Dan",
        "team_7",
        "Seven",
        ">size<",
        ">7<",
        ">plan<",
        ">pro<",
        ">false<",
        "123.123.123.123",
        "Chrome/104.0.0.0",
        "Raw JSON",
        "Copy JSON",
        event_id,
        "version 1",
    ):
        assert text in html, text
    assert "<html" in html
    panel = client.get(url, headers={"HX-Request": "true"})
    assert panel.get_data(as_text=True).lstrip().startswith('<aside id="event-panel"')
    assert "HX-Request" in panel.headers["Vary"]


HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def test_every_field_is_escaped(viewer, store, client):
    [event_id] = store(
        viewer.org_id,
        event(
            1,
            actor="user_<b>",
            name=HOSTILE,
            targets=[{"type": "team", "id": "t<1>", "name": HOSTILE, "metadata": {"k": HOSTILE}}],
            metadata={"note": HOSTILE},
            context={"location": "<i>here</i>", "user_agent": HOSTILE},
        ),
    )
    for url in (
        f"/orgs/{viewer.org_id}/events",
        f"/orgs/{viewer.org_id}/events?q=script",
        f"/orgs/{viewer.org_id}/events/{event_id}",
    ):
        html = client.get(url).get_data(as_text=True)
        assert "<script>alert" not in html and "<img src=x" not in html
        assert "<b>" not in html and "<i>here" not in html
        assert "&lt;script&gt;" in html


@pytest.fixture
def two_orgs_with_events(app, make_org, make_user, store, auth):
    """Acme and Globex with the same kinds of events; ann is a member of Acme only."""
    acme, globex = make_org("Acme"), make_org("Globex")
    make_user("ann@example.com")
    make_user("gil@example.com", globex, Role.ADMIN)
    auth.login("ann@example.com")  # before joining: Acme's log holds only WORLD
    make_user("ann@example.com", acme, Role.VIEWER)
    mine = store(acme, *WORLD)
    theirs = store(globex, *WORLD)
    return acme, globex, mine, theirs


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?q=alice",
        "?actor=user_",
        "?target_id=team_red",
        "?target_type=document",
        "?action=user.signed_in",
        "?range=24h",
        "?range=30d&q=budget&actor=user_b",
    ],
)
def test_a_member_never_sees_another_orgs_events(client, two_orgs_with_events, query):
    acme, globex, mine, theirs = two_orgs_with_events
    html = client.get(f"/orgs/{acme}/events{query}").get_data(as_text=True)
    assert set(ids_on(html)) <= set(mine)
    assert not any(event_id in html for event_id in theirs)
    assert client.get(f"/orgs/{globex}/events{query}").status_code == 404
    chart = client.get(f"/orgs/{acme}/events/chart{query}").get_data(as_text=True)
    assert globex not in chart


def test_another_orgs_event_is_not_found_through_any_url(client, two_orgs_with_events):
    acme, globex, _mine, theirs = two_orgs_with_events
    for event_id in theirs:
        assert client.get(f"/orgs/{acme}/events/{event_id}").status_code == 404
        assert client.get(f"/orgs/{globex}/events/{event_id}").status_code == 404
        hx = client.get(f"/orgs/{acme}/events/{event_id}", headers={"HX-Request": "true"})
        assert hx.status_code == 404


def test_the_chart_counts_matches_per_hour_and_narrows_to_a_bar(viewer, world, client):
    html = client.get(f"/orgs/{viewer.org_id}/events/chart?range=24h").get_data(as_text=True)
    assert html.lstrip().startswith('<section id="event-chart"')
    assert "3 events" in html and "per hour" in html
    bars = re.findall(r'data-narrow-from="([^"]+)" data-narrow-until="([^"]+)"', html)
    assert len(bars) in (24, 25)
    counted = re.findall(r"UTC: (\d+) events?</title>", html)
    assert sum(map(int, counted)) == 3
    start, until = bars[-1]
    narrowed = client.get(f"/orgs/{viewer.org_id}/events?range=custom&from={start}&until={until}")
    assert ids_on(narrowed.get_data(as_text=True)) == [world[0], world[1]][: int(counted[-1])]


def test_the_chart_uses_days_for_long_ranges(viewer, world, client):
    html = client.get(f"/orgs/{viewer.org_id}/events/chart?action=user.signed_in").get_data(
        as_text=True
    )
    assert "2 events" in html and "per day" in html


@pytest.mark.parametrize("probe", [1, pages.PROBE])
def test_every_query_plan_finds_the_same_events(app, viewer, store, monkeypatch, probe):
    """Random events and filters: each page equals a plain filter in Python, whatever
    driver (index) the page chooses."""
    monkeypatch.setattr(pages, "PROBE", probe)
    monkeypatch.setattr(pages, "MAX_BRANCHES", 3 if probe == 1 else pages.MAX_BRANCHES)
    rng = random.Random(7)
    actions = ["a.one", "a.two", "b.three"]
    actors = [("user_1", "Ann"), ("user_2", "Anna"), ("user_3", None), ("svc_1", "Backup")]
    raws = []
    for _ in range(150):
        actor_id, name = rng.choice(actors)
        targets = [
            {
                "type": rng.choice(["team", "doc"]),
                "id": f"t{rng.randrange(5)}",
                "name": rng.choice(["Red", "Blue", None]),
            }
            for _ in range(rng.randrange(3))
        ]
        raws.append(
            event(rng.randrange(60 * 24 * 10), rng.choice(actions), actor_id, name, targets)
        )
    ids = store(viewer.org_id, *raws)
    events = list(zip(ids, raws, strict=True))
    filters = [
        {"action": ["a.one"]},
        {"action": ["a.one", "b.three"]},
        {"actor": "user_"},
        {"actor": "Ann"},
        {"target_type": "doc"},
        {"target_id": "t1"},
        {"target_type": "team", "target_id": "t2"},
        {"q": "red"},
        {"q": "ann"},
        {"range": "7d"},
    ]
    combos = filters + [{**a, **b} for a, b in itertools.combinations(filters, 2)]
    with app.app_context():
        for combo in combos:
            event_filter = EventFilter.from_args(MultiDict(combo))
            expected = [
                i
                for i, raw in sorted(
                    events, key=lambda e: (e[1]["occurred_at"], e[0]), reverse=True
                )
                if matches(raw, combo)
            ]
            seen, cursor = [], None
            while True:
                page = pages.event_page(viewer.org_id, event_filter, after=cursor, limit=7)
                seen += [e.id for e in page.events]
                cursor = page.next_cursor
                if cursor is None:
                    break
            assert seen == expected, combo


def matches(raw, combo):
    """The filter semantics, in plain Python."""
    occurred = datetime.fromisoformat(raw["occurred_at"].replace("Z", "+00:00")).astimezone(UTC)
    week_ago = filter_cases.NOW - timedelta(days=7)
    if combo.get("range") == "7d" and occurred < week_ago - timedelta(minutes=5):
        return False
    if "action" in combo and raw["action"] not in combo["action"]:
        return False
    actor = raw["actor"]
    if "actor" in combo and not (
        actor["id"].startswith(combo["actor"])
        or (actor.get("name") or "").startswith(combo["actor"])
    ):
        return False
    targets = [
        t
        for t in raw["targets"]
        if t["type"] == combo.get("target_type", t["type"])
        and t["id"] == combo.get("target_id", t["id"])
    ]
    if ("target_type" in combo or "target_id" in combo) and not targets:
        return False
    if "q" in combo:
        texts = [raw["action"], actor.get("name") or ""] + [
            t.get("name") or "" for t in raw["targets"]
        ]
        if not any(combo["q"].lower() in text.lower() for text in texts):
            return False
    return True


def test_index_entries_are_counted_below_the_probe_and_extrapolated_above(
    app, viewer, store, monkeypatch
):
    """One entry an hour for 300 hours: a filter reading at most 100 entries sees them
    reach back ~100 hours of the 300-hour range, and estimates ~300; a sparse one is
    counted exactly."""
    monkeypatch.setattr(pages, "PROBE", 100)
    store(viewer.org_id, *(event(60 * hour + 30, "a.dense") for hour in range(300)))
    store(viewer.org_id, *(event(60 * hour + 30, "a.sparse") for hour in range(0, 300, 6)))

    def walk(*actions):
        within = EventFilter(
            start=filter_cases.NOW - timedelta(hours=300), end=filter_cases.NOW, actions=actions
        )
        return pages.ActionDriver(viewer.org_id, within, "any")

    with app.app_context():
        dense, sparse, both = walk("a.dense"), walk("a.sparse"), walk("a.dense", "a.sparse")
        for driver in (dense, sparse, both):
            assert driver.usable()
        assert 270 <= dense.measure() <= 330
        assert sparse.measure() == 50  # fewer than its share: exact
        assert 300 <= both.measure() <= 400

"""Settings -> Log streams through the dashboard's forms: admins only, the organization's
own streams only, the signing secret shown once, inline errors that change nothing."""

import re

import pytest
from sqlalchemy import select

from app.extensions import db
from app.ledger.models import Event
from app.orgs.models import Role
from app.streams.models import LogStream
from tests.conftest import seed_event
from tests.streams.helpers import drain, make_stream, stream_row
from tests.streams.receivers.webhook import WebhookReceiver

SECRET = re.compile(r'id="new-secret" value="(whsec_[A-Za-z0-9+/=]+)"')


def streams_url(org_id, rest=""):
    return f"/orgs/{org_id}/settings/log-streams{rest}"


def streams(app):
    with app.app_context():
        return db.session.scalars(select(LogStream)).all()


def test_a_webhook_made_in_the_dashboard_delivers_and_shows_its_secret_once(
    app, client, auth, org_admin, make_events
):
    make_events(org_admin, seed_event())
    page = client.get(streams_url(org_admin)).get_data(as_text=True)
    assert "No streams yet" in page and "HTTPS webhook" in page
    with WebhookReceiver() as receiver:
        response = auth.post(
            streams_url(org_admin, "/new/webhook"),
            {"name": "Our SIEM", "url": receiver.url, "start": "beginning"},
        )
        assert response.status_code == 201
        assert response.headers["Cache-Control"] == "no-store"
        html = response.get_data(as_text=True)
        receiver.secret = SECRET.search(html).group(1)
        assert html.count(receiver.secret) == 1
        (stream,) = streams(app)
        assert receiver.secret not in stream.secret_encrypted
        later = client.get(streams_url(org_admin, f"/{stream.id}")).get_data(as_text=True)
        assert receiver.secret not in later and "Send test event" in later
        drain(app)
        assert receiver.records[0]["action"] == "user.signed_in"
    health = client.get(streams_url(org_admin, f"/{stream.id}/health")).get_data(as_text=True)
    assert "0 events" in health and "seq 2 of 2" in health
    listing = client.get(streams_url(org_admin)).get_data(as_text=True)
    assert "Our SIEM" in listing and receiver.url in listing


def test_bad_settings_are_shown_on_the_field_and_change_nothing(app, auth, org_admin):
    response = auth.post(
        streams_url(org_admin, "/new/webhook"),
        {"name": "X", "url": "ftp://example.com/", "start": "beginning"},
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'id="url-errors"' in html and "https://" in html
    assert streams(app) == []


def test_an_unknown_kind_is_404(client, org_admin):
    assert client.get(streams_url(org_admin, "/new/pigeon")).status_code == 404


def test_every_change_is_recorded_with_the_admin_as_actor(app, client, auth, org_admin):
    stream_id, _secret = make_stream(app, org_admin, settings={"url": "https://a.example/"})
    base = streams_url(org_admin, f"/{stream_id}")
    assert auth.post(base, {"name": "Renamed", "url": "https://b.example/"}).status_code == 303
    assert auth.post(base + "/pause").status_code == 303
    assert stream_row(app, stream_id).state == "disabled"
    assert auth.post(base + "/resume").status_code == 303
    rotated = auth.post(base + "/rotate")
    assert SECRET.search(rotated.get_data(as_text=True))
    assert auth.post(base + "/test").status_code == 303
    assert stream_row(app, stream_id).test_pending
    assert auth.post(base + "/delete").status_code == 303
    with app.app_context():
        rows = db.session.execute(
            select(Event.action, Event.actor_id)
            .where(Event.action.like("dashboard.log_stream%"))
            .order_by(Event.seq)
        ).all()
    actions = [action for action, _actor in rows]
    assert actions == [
        "dashboard.log_stream_updated",
        "dashboard.log_stream_paused",
        "dashboard.log_stream_resumed",
        "dashboard.log_stream_updated",
        "dashboard.log_stream_deleted",
    ]
    assert len({actor for _action, actor in rows}) == 1


def test_posts_need_a_csrf_token(app, client, org_admin):
    stream_id, _secret = make_stream(app, org_admin, settings={"url": "https://a.example/"})
    response = client.post(streams_url(org_admin, f"/{stream_id}/delete"))
    assert response.status_code == 400
    assert stream_row(app, stream_id) is not None


def test_another_organizations_streams_are_404(app, client, auth, org_admin, make_org):
    other = make_org("Globex")
    stream_id, _secret = make_stream(app, other, settings={"url": "https://a.example/"})
    for path in ("", "/health"):
        assert client.get(streams_url(org_admin, f"/{stream_id}{path}")).status_code == 404
    for action in ("/pause", "/delete", "/test", ""):
        response = auth.post(streams_url(org_admin, f"/{stream_id}{action}"), {"name": "x"})
        assert response.status_code == 404
    assert stream_row(app, stream_id).state == "active"
    assert client.get(streams_url(other)).status_code == 404


@pytest.mark.parametrize("path", ["", "/new/webhook"])
def test_viewers_may_not_manage_streams(app, client, auth, make_org, make_user, path):
    org_id = make_org("Acme")
    make_user("viewer@example.com", org_id, Role.VIEWER)
    auth.login("viewer@example.com")
    assert client.get(streams_url(org_id, path)).status_code == 403

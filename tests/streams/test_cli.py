"""``flask streams ...`` through click's runner: every change recorded with the OS user."""

import getpass

from sqlalchemy import select

from app.extensions import db
from app.ledger.models import Event
from app.streams.models import LogStream
from tests.conftest import seed_event
from tests.streams.receivers.webhook import WebhookReceiver


def recorded(app, org_id):
    with app.app_context():
        return db.session.execute(
            select(Event.action, Event.actor_type, Event.actor_id)
            .where(Event.organization_id == org_id, Event.action.like("dashboard.log_stream%"))
            .order_by(Event.seq)
        ).all()


def test_the_whole_life_of_a_stream_from_the_command_line(app, runner, make_org, make_events):
    org_id = make_org("Acme")
    make_events(org_id, seed_event())
    with WebhookReceiver() as receiver:
        result = runner.invoke(
            args=[
                "streams",
                "create",
                "--org",
                org_id,
                "--kind",
                "webhook",
                "--name",
                "SIEM",
                "--set",
                f"url={receiver.url}",
            ]
        )
        assert result.exit_code == 0, result.output
        stream_id, secret_line = result.output.splitlines()
        assert stream_id.startswith("als_") and secret_line.startswith("Signing secret: whsec_")
        receiver.secret = secret_line.removeprefix("Signing secret: ")

        listed = runner.invoke(args=["streams", "list", "--org", org_id]).output
        # The seed event, and the stream's own creation (its organization's log has both).
        assert listed.split("\t")[:4] == [stream_id, "webhook", "active", "2"]

        result = runner.invoke(args=["streams", "work", "--once"])
        assert result.exit_code == 0, result.output
        assert [r["action"] for r in receiver.records] == [
            "user.signed_in",
            "dashboard.log_stream_created",
        ]

        shown = runner.invoke(args=["streams", "show", stream_id, "--org", org_id]).output
        assert "cursor: 2" in shown and "lag: 0 events" in shown
        assert "delivered: 2 events in 1 batches" in shown

        result = runner.invoke(args=["streams", "test", stream_id, "--org", org_id])
        assert result.exit_code == 0
        runner.invoke(args=["streams", "work", "--once"])
        assert receiver.records[-1]["test"] is True

        for verb in ("update", "pause", "resume", "delete"):
            extra = ["--name", "Renamed"] if verb == "update" else []
            result = runner.invoke(args=["streams", verb, stream_id, "--org", org_id, *extra])
            assert result.exit_code == 0, result.output
    with app.app_context():
        assert db.session.get(LogStream, stream_id) is None
    user = getpass.getuser()
    assert recorded(app, org_id) == [
        (f"dashboard.log_stream_{verb}", "cli", user)
        for verb in ("created", "updated", "paused", "resumed", "deleted")
    ]


def test_a_secret_is_asked_for_not_taken_from_the_command_line(app, runner, make_org):
    org_id = make_org("Acme")
    result = runner.invoke(
        args=[
            "streams",
            "create",
            "--org",
            org_id,
            "--kind",
            "s3",
            "--name",
            "Archive",
            "--set",
            "bucket=audit-archive",
            "--set",
            "access_key_id=AKIAEXAMPLE",
        ],
        input="secret-access-key\n",
    )
    assert result.exit_code == 0, result.output
    assert "secret-access-key" not in result.output
    with app.app_context():
        (stream,) = db.session.scalars(select(LogStream)).all()
        assert "secret-access-key" not in stream.secret_encrypted


def test_bad_settings_are_a_usage_error_that_changes_nothing(app, runner, make_org):
    org_id = make_org("Acme")
    for args, message in [
        (["--kind", "webhook", "--set", "url=ftp://x"], "https://"),
        (["--kind", "carrier-pigeon"], "Choose one of the kinds"),
        (["--kind", "webhook", "--set", "colour=red"], "NAME one of url"),
    ]:
        result = runner.invoke(args=["streams", "create", "--org", org_id, "--name", "X", *args])
        assert result.exit_code == 2 and message in result.output, result.output
    with app.app_context():
        assert db.session.scalar(select(LogStream.id)) is None
    result = runner.invoke(args=["streams", "pause", "als_nope", "--org", org_id])
    assert result.exit_code == 2 and "has no stream" in result.output

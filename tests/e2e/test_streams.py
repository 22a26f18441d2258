"""An admin adds a log stream of each kind through Settings -> Log streams in a real
browser, against the kind's real local receiver; the job runner delivers; the health
card shows it; a test event goes out from its button."""

import contextlib
import re

import pytest
from playwright.sync_api import expect

from app.jobs.runner import Runner
from app.orgs.models import Role
from app.streams.delivery import StreamQueue
from tests.conftest import seed_event
from tests.streams.receivers import datadog as datadog_receiver
from tests.streams.receivers import splunk as splunk_receiver
from tests.streams.receivers.s3 import LocalS3
from tests.streams.receivers.syslog import Rsyslog
from tests.streams.receivers.webhook import WebhookReceiver


@contextlib.contextmanager
def webhook():
    with WebhookReceiver() as receiver:

        def fill(page):
            page.get_by_label("Endpoint URL").fill(receiver.url)

        def after_create(page):
            receiver.secret = page.locator("#new-secret").input_value()

        yield fill, after_create, receiver.unique_records


@contextlib.contextmanager
def s3():
    with LocalS3() as store:
        store.create_bucket("audit-archive")

        def fill(page):
            page.get_by_label("Bucket").fill("audit-archive")
            page.get_by_label("Endpoint URL").fill(store.endpoint_url)
            page.get_by_label("Access key ID").fill(store.credentials[0])
            page.get_by_label("Secret access key").fill(store.credentials[1])

        def received():
            return [
                record for _key, records in store.objects("audit-archive") for record in records
            ]

        yield fill, None, received


@contextlib.contextmanager
def syslog():
    with Rsyslog(tls=True) as server:

        def fill(page):
            page.get_by_label("Host").fill("localhost")
            page.get_by_label("Port").fill(str(server.port))
            page.get_by_label("CA certificate").fill(server.ca_pem)

        def received():
            return [message.record for message in server.received()]

        yield fill, None, received


@contextlib.contextmanager
def splunk():
    with splunk_receiver.SplunkReceiver() as receiver:

        def fill(page):
            page.get_by_label("HEC URL").fill(receiver.url)
            page.get_by_label("HEC token").fill(splunk_receiver.TOKEN)

        yield fill, None, lambda: list(receiver.records)


@contextlib.contextmanager
def datadog():
    with datadog_receiver.DatadogReceiver() as receiver:

        def fill(page):
            page.get_by_label("Datadog site").select_option("datadoghq.eu")
            page.get_by_label("Intake URL").fill(receiver.url)
            page.get_by_label("API key").fill(datadog_receiver.API_KEY)

        yield fill, None, lambda: list(receiver.records)


RECEIVERS = {"webhook": webhook, "splunk": splunk, "datadog": datadog, "s3": s3, "syslog": syslog}
LABELS = {
    "webhook": "HTTPS webhook",
    "splunk": "Splunk HTTP Event Collector",
    "datadog": "Datadog",
    "s3": "S3-compatible storage",
    "syslog": "Syslog (RFC 5424)",
}


def wait_for(read, count, page):
    """Poll the receiver until ``count`` records arrived (a generous wait, then a failure)."""
    for _ in range(300):
        found = read()
        if len(found) >= count:
            return found
        page.wait_for_timeout(100)
    raise AssertionError(f"{len(read())} of {count} records arrived")


@pytest.mark.parametrize("kind", list(RECEIVERS))
def test_an_admin_streams_events_to_each_kind(
    app, kind, page, sign_in, make_org, make_user, make_events, screenshot
):
    acme = make_org("Acme")
    make_user("ann@example.com", acme, Role.ADMIN)
    make_events(acme, seed_event())
    worker = Runner(app, [StreamQueue(poll_seconds=0.2)]).start()
    try:
        with RECEIVERS[kind]() as (fill, after_create, received):
            sign_in("ann@example.com")
            page.goto(f"/orgs/{acme}/settings/log-streams")
            page.get_by_role("link", name=LABELS[kind]).click()
            page.get_by_label("Name").fill(f"Archive ({kind})")
            fill(page)
            screenshot(f"streams-new-{kind}")
            page.get_by_role("button", name="Create stream").click()
            expect(page.get_by_role("heading", name=f"Archive ({kind})")).to_be_visible()
            if after_create:
                after_create(page)
            worker.notify("streams")
            records = wait_for(received, 3, page)  # the seed event, sign-in, creation
            assert [record["seq"] for record in records[:3]] == [1, 2, 3]
            assert records[0]["action"] == "user.signed_in"
            health = page.locator("#stream-health")
            expect(health).to_contain_text("seq 3 of 3")
            expect(health).to_contain_text("active")
            page.get_by_role("button", name="Send test event").click()
            worker.notify("streams")
            expect(page.locator("#test-result")).to_contain_text("delivered", timeout=30_000)
            assert wait_for(received, 4, page)[-1]["test"] is True
            screenshot(f"streams-health-{kind}")
            page.goto(f"/orgs/{acme}/settings/log-streams")
            expect(page.get_by_role("row").filter(has_text=f"Archive ({kind})")).to_contain_text(
                re.compile("active")
            )
    finally:
        worker.stop()

"""The official ``workos`` Python SDK against a live server, changing only its base URL."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from workos import WorkOSClient
from workos._errors import (
    AuthenticationError,
    BadRequestError,
    ConflictError,
    NotFoundError,
    UnprocessableEntityError,
)
from workos.audit_logs._resource import RetentionPeriod, RetentionPeriodInDays
from workos.audit_logs.models import (
    AuditLogEvent,
    AuditLogSchemaActorInput,
    AuditLogSchemaTargetInput,
)
from workos.audit_logs.models.audit_log_event_actor import AuditLogEventActor
from workos.audit_logs.models.audit_log_event_context import AuditLogEventContext
from workos.audit_logs.models.audit_log_event_target import AuditLogEventTarget

from app.extensions import db
from app.ledger.models import Event


@pytest.fixture
def workos(live_server, api_org, make_key):
    """The SDK configured for this server, without its own retries (tests retry explicitly)."""
    return WorkOSClient(
        api_key=make_key(api_org), client_id="unused", base_url=live_server.url, max_retries=0
    )


def sdk_event(**changes):
    values = {
        "action": "user.signed_in",
        "occurred_at": datetime(2022, 8, 29, 19, 47, 52, 336000, tzinfo=UTC),
        "actor": AuditLogEventActor(
            id="user_01GBNJC3MX9ZZJW1FSTF4C5938", type="user", name="Jon Smith"
        ),
        "targets": [AuditLogEventTarget(id="team_01GBNJD4MKHVKJGEWK42JNMBGS", type="team")],
        "context": AuditLogEventContext(location="123.123.123.123", user_agent="Chrome/104.0.0.0"),
    }
    values.update(changes)
    return AuditLogEvent(**values)


# The events the test sent, not the built-in ones its schema and key changes recorded.
SENT = Event.action.not_like("dashboard.%")


def count_events(app):
    with app.app_context():
        return db.session.scalar(select(func.count()).where(SENT))


def test_schema_and_event_round_trip(app, workos, api_org):
    schema = workos.audit_logs.create_schema(
        "user.signed_in",
        targets=[AuditLogSchemaTargetInput(type="team")],
        actor=AuditLogSchemaActorInput(
            metadata={"type": "object", "properties": {"role": {"type": "string"}}}
        ),
    )
    assert schema.version == 1
    assert [t.type for t in schema.targets] == ["team"]
    assert schema.actor.metadata["properties"]["role"] == {"type": "string"}

    response = workos.audit_logs.create_event(organization_id=api_org, event=sdk_event())
    assert response.success is True
    assert count_events(app) == 1


def test_retries_under_one_idempotency_key_store_one_event(app, workos, api_org):
    workos.audit_logs.create_schema(
        "user.signed_in", targets=[AuditLogSchemaTargetInput(type="team")]
    )
    for _ in range(3):
        response = workos.audit_logs.create_event(
            organization_id=api_org, event=sdk_event(), idempotency_key="retry-7f1c"
        )
        assert response.success is True
    assert count_events(app) == 1
    with pytest.raises(ConflictError) as raised:
        workos.audit_logs.create_event(
            organization_id=api_org,
            event=sdk_event(action="user.signed_in", metadata={"changed": True}),
            idempotency_key="retry-7f1c",
        )
    assert raised.value.code == "idempotency_key_reused"


def test_every_post_gets_its_own_idempotency_key(app, workos, api_org):
    workos.audit_logs.create_schema(
        "user.signed_in", targets=[AuditLogSchemaTargetInput(type="team")]
    )
    for _ in range(2):
        workos.audit_logs.create_event(organization_id=api_org, event=sdk_event())
    assert count_events(app) == 2


def test_list_actions_and_schemas(workos):
    workos.audit_logs.create_schema(
        "user.signed_in", targets=[AuditLogSchemaTargetInput(type="team")]
    )
    workos.audit_logs.create_schema(
        "user.signed_in",
        targets=[AuditLogSchemaTargetInput(type="team"), AuditLogSchemaTargetInput(type="user")],
    )
    for index in range(12):
        workos.audit_logs.create_schema(
            f"doc.n{index}", targets=[AuditLogSchemaTargetInput(type="doc")]
        )
    page = workos.audit_logs.list_actions(limit=5)
    assert len(page.data) == 5
    every = list(page.auto_paging_iter())
    assert len(every) == 13
    signed_in = next(a for a in every if a.name == "user.signed_in")
    assert signed_in.schema.version == 2
    versions = workos.audit_logs.list_action_schemas("user.signed_in")
    assert [v.version for v in versions.data] == [2, 1]


def test_get_and_set_retention(workos, api_org):
    current = workos.audit_logs.get_organization_audit_logs_retention(api_org)
    assert current.retention_period_in_days is None
    updated = workos.audit_logs.update_organization_audit_logs_retention(
        api_org, retention=RetentionPeriodInDays(retention_period_in_days=90)
    )
    assert updated.retention_period_in_days == 90
    updated = workos.audit_logs.update_organization_audit_logs_retention(
        api_org, retention=RetentionPeriod(retention_period="2_YEARS")
    )
    assert updated.retention_period_in_days == 730
    with pytest.raises(UnprocessableEntityError) as raised:
        workos.audit_logs.update_organization_audit_logs_retention(
            api_org, retention=RetentionPeriodInDays(retention_period_in_days=45)
        )
    assert raised.value.code == "validation_failed"


def test_errors_carry_our_code(app, workos, api_org, make_org, live_server):
    with pytest.raises(BadRequestError) as raised:
        workos.audit_logs.create_event(
            organization_id=api_org, event=sdk_event(action="not.configured")
        )
    assert raised.value.code == "invalid_audit_log_event"
    assert (
        raised.value.errors[0]["message"]
        == "event 'not.configured', version '1' has not been configured"
    )

    workos.audit_logs.create_schema(
        "user.signed_in", targets=[AuditLogSchemaTargetInput(type="team")]
    )
    with pytest.raises(UnprocessableEntityError) as raised:
        workos.audit_logs.create_event(
            organization_id=api_org, event=sdk_event(action="has spaces in it")
        )
    assert raised.value.code == "validation_failed"
    assert raised.value.errors[0]["field"] == "event.action"

    with pytest.raises(NotFoundError):
        workos.audit_logs.create_event(organization_id=make_org("Globex"), event=sdk_event())

    stranger = WorkOSClient(
        api_key="sk_wrong", client_id="unused", base_url=live_server.url, max_retries=0
    )
    with pytest.raises(AuthenticationError) as raised:
        stranger.audit_logs.list_actions()
    assert raised.value.code == "unauthorized"
    assert count_events(app) == 0

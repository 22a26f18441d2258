"""The logic behind the schema pages: rows and JSON Schemas, the form's body and the
mapping of problems back to it, version diffs, examples, and recent event counts."""

import ast
import json
from datetime import timedelta

import pytest
from werkzeug.datastructures import MultiDict

from app.extensions import db
from app.orgs import services as orgs
from app.schemas import services
from app.schemas.changes import Change, version_changes
from app.schemas.definition import check_definition
from app.schemas.examples import build_example, compact_json, sample_value
from app.schemas.forms import NewActionForm, VersionForm
from app.schemas.metadata_fields import MetadataField, fields_from_schema, schema_from_fields
from app.timestamps import isoformat, utcnow

PLAN = {"type": "object", "properties": {"plan": {"type": "string"}}, "required": ["plan"]}


def schema(properties, required=None, **extra):
    """A metadata JSON Schema: ``properties`` maps keys to their type."""
    body = {"type": "object", "properties": {k: {"type": t} for k, t in properties.items()}}
    if required:
        body["required"] = required
    body.update(extra)
    return body


# Rows <-> JSON Schema


def test_rows_become_a_json_schema_with_sorted_required_keys():
    fields = [
        MetadataField("zeta", "number", required=True),
        MetadataField("alpha", "string", required=True),
        MetadataField("beta", "boolean"),
    ]
    assert schema_from_fields(fields) == schema(
        {"zeta": "number", "alpha": "string", "beta": "boolean"}, required=["alpha", "zeta"]
    )
    assert schema_from_fields([]) is None


def test_a_stored_form_schema_reads_back_as_the_same_rows():
    fields = [MetadataField("alpha", "string", True), MetadataField("beta", "number")]
    stored = services.canonical(schema_from_fields(fields))
    assert fields_from_schema(json.loads(stored)) == fields


@pytest.mark.parametrize(
    "richer",
    [
        schema({"plan": "string"}, additionalProperties=False),
        {"type": "object", "properties": {"plan": {"type": "string", "enum": ["a"]}}},
        schema({"b": "string", "a": "string"}, required=["b", "a"]),  # not sorted: JSON it is
        {"type": "object", "properties": {"plan": {"type": "string"}}, "required": []},
        {"type": "object", "properties": {}},
    ],
)
def test_schemas_richer_than_rows_stay_json(richer):
    assert fields_from_schema(richer) is None


# The form's body and where problems show


def form_for(app, cls, data):
    with app.test_request_context(method="POST", data=MultiDict(data)):
        form = cls(meta={"csrf": False})
        form.validate()
        return form


def test_the_form_builds_the_body_the_api_takes(app):
    form = form_for(
        app,
        NewActionForm,
        {
            "name": " user.signed_in ",
            "targets-0-type": "team",
            "targets-0-metadata-rows-0-key": "seats",
            "targets-0-metadata-rows-0-type": "number",
            "targets-3-type": "project",  # indices need not be consecutive (a row was removed)
            "actor-rows-0-key": "plan",
            "actor-rows-0-required": "y",
            "metadata-mode": "json",
            "metadata-json_schema": '{"type": "object", "properties": {"ip": {"type": "string"}}}',
            "metadata-rows-0-key": "ignored",  # the mode not chosen
        },
    )
    assert form.name.data == "user.signed_in"
    assert form.body() == {
        "targets": [
            {"type": "team", "metadata": schema({"seats": "number"})},
            {"type": "project"},
        ],
        "actor": {"metadata": PLAN},
        "metadata": schema({"ip": "string"}),
    }


def test_a_stored_definition_fills_the_form_and_builds_the_same_body(app):
    definition = {
        "targets": [{"type": "team", "metadata": PLAN}, {"type": "user"}],
        "actor": {"metadata": schema({"a": "string"}, additionalProperties=False)},
    }
    with app.test_request_context():
        form = VersionForm.for_definition(definition)
        assert form.actor.form.mode.data == "json"
        assert form.targets.entries[0].form.metadata.form.mode.data == "fields"
        assert form.body() == definition


def test_problems_land_beside_their_inputs(app):
    form = form_for(
        app,
        NewActionForm,
        {
            "name": "ok.name",
            "targets-0-type": "team",
            "targets-1-type": "team",
            "actor-rows-0-key": "plan",
            "metadata-mode": "json",
            "metadata-json_schema": '{"type": "array"}',
        },
    )
    form.show_problems(services.schema_problems("ok.name", form.body()))
    form.show_problems(
        [
            {"field": "actor.metadata.properties.plan.type", "code": "x", "message": "bad type"},
            {"field": "", "code": "x", "message": "The body is odd."},
            {"field": "targets", "code": "too_many", "message": "targets: too many."},
        ]
    )
    targets = [entry.form for entry in form.targets]
    assert targets[0].type.errors == []
    assert targets[1].type.errors == [
        "The target type 'team' is listed twice; list each type once."
    ]
    assert form.metadata.form.json_schema.errors == ['type must be "object".']
    assert form.actor.form.rows.entries[0].form.type.errors == ["bad type"]
    assert form.form_errors == ["The body is odd."]
    assert form.targets_errors == ["targets: too many."]


def test_the_form_own_error_is_not_repeated_by_the_service(app):
    form = form_for(app, NewActionForm, {"name": "", "targets-0-type": ""})
    form.show_problems(services.schema_problems("", form.body()))
    assert form.name.errors == ["Enter the name of the action, such as user.signed_in."]
    assert form.targets.entries[0].form.type.errors == ["Enter a target type, or remove this one."]


def test_every_definition_problem_is_reported_at_once():
    _definition, problems = check_definition(
        "user.signed_in",
        {
            "targets": [{"type": "team"}, {"type": "team"}, {"type": ""}],
            "metadata": schema({"bad key": "string"}),
        },
    )
    assert {p["field"] for p in problems} == {
        "targets.1.type",
        "targets.2.type",
        "metadata.properties.bad key",
    }


# Version diffs


def test_diff_lists_target_types_and_fields_added_removed_and_changed():
    old = {
        "targets": [{"type": "team"}, {"type": "user", "metadata": schema({"a": "string"})}],
        "actor": {"metadata": schema({"plan": "string", "seats": "number"}, required=["plan"])},
        "metadata": schema({"ip": "string"}),
    }
    new = {
        "targets": [{"type": "user", "metadata": schema({"a": "number"})}, {"type": "doc"}],
        "actor": {
            "metadata": schema({"plan": "string", "role": "string"}, additionalProperties=False)
        },
    }
    assert version_changes(old, new) == [
        Change("added", "Target type", "doc"),
        Change("removed", "Target type", "team"),
        Change("changed", "“user” target metadata field", "a", "(string → number)"),
        Change("added", "Actor metadata field", "role", "(string, optional)"),
        Change("removed", "Actor metadata field", "seats"),
        Change("changed", "Actor metadata field", "plan", "(now optional)"),
        Change("changed", "Actor metadata: JSON Schema keywords changed:", "additionalProperties"),
        Change("removed", "Event metadata is no longer validated"),
    ]


def test_diff_of_newly_validated_metadata_lists_its_fields():
    old = {"targets": [{"type": "team"}]}
    new = {"targets": [{"type": "team"}], "metadata": PLAN}
    assert version_changes(old, new) == [
        Change("added", "Event metadata is now validated"),
        Change("added", "Event metadata field", "plan", "(string, required)"),
    ]


def test_diff_names_changed_rules_of_a_field():
    old = {
        "targets": [{"type": "t"}],
        "metadata": {"type": "object", "properties": {"p": {"type": "string"}}},
    }
    new = {
        "targets": [{"type": "t"}],
        "metadata": {"type": "object", "properties": {"p": {"type": "string", "maxLength": 3}}},
    }
    assert version_changes(old, new) == [
        Change("changed", "Event metadata field", "p", "(rules changed: maxLength)")
    ]


# Examples


@pytest.mark.parametrize(
    ("spec", "valid"),
    [
        ({"type": "string"}, "example"),
        ({"type": "number"}, 1),
        ({"type": "boolean"}, True),
        ({"type": "string", "enum": ["free", "pro"]}, "free"),
        ({"type": "string", "const": "x"}, "x"),
        ({"type": "string", "format": "email"}, "jane@example.com"),
        ({"type": "string", "minLength": 10}, "examplexxx"),
        ({"type": "string", "maxLength": 3}, "exa"),
        ({"type": "number", "minimum": 5, "multipleOf": 2}, 6),
        ({"type": "number", "exclusiveMaximum": 0}, -1),
        ({"type": "number", "examples": [7]}, 7),
    ],
)
def test_sample_values_meet_simple_rules(spec, valid):
    assert sample_value(spec) == valid


DEFINITION = {
    "targets": [
        {"type": "team", "metadata": schema({"seats": "number"}, ["seats"])},
        {"type": "o'brien"},
    ],
    "actor": {"metadata": PLAN},
    "metadata": schema({"sso": "boolean"}, ["sso"]),
}


def test_the_example_event_passes_its_schema_and_names_the_version():
    example = build_example(
        "http://h/", "org_1", "user.signed_in", 3, DEFINITION, "2024-01-01T00:00:00Z"
    )
    assert example.problems == []
    event = example.event
    assert event["version"] == 3
    assert event["actor"]["metadata"] == {"plan": "example"}
    assert event["targets"][0]["metadata"] == {"seats": 1}
    assert event["metadata"] == {"sso": True}
    compiled = services.CompiledSchema.build(DEFINITION)
    assert compiled.problems("user.signed_in", 3, event) == []


def test_the_examples_are_valid_shell_and_python():
    example = build_example(
        "http://h/", "org_1", "user.signed_in", 1, DEFINITION, "2024-01-01T00:00:00Z"
    )
    # The body travels in a quoted here-document: a quote in a target type cannot break it.
    assert "--data-binary @- <<'JSON'" in example.curl
    assert example.curl.endswith("\nJSON")
    assert '"type": "o\'brien"' in example.curl
    tree = ast.parse(example.python)
    assert "AuditLogEventTarget" in example.python
    assert any(isinstance(node, ast.ImportFrom) and node.module == "workos" for node in tree.body)
    assert 'base_url="http://h/"' in example.python
    assert 'metadata={"sso": True}' in example.python


def test_an_unguessable_rule_is_reported_with_the_example():
    definition = {
        "targets": [{"type": "t"}],
        "metadata": {
            "type": "object",
            "properties": {"code": {"type": "string", "pattern": "^[0-9]{4}$"}},
        },
    }
    example = build_example("http://h/", "org_1", "a.b", 1, definition, "2024-01-01T00:00:00Z")
    assert example.problems == ["/metadata/code: 'example' does not match '^[0-9]{4}$'"]


def test_compact_json_keeps_short_objects_on_one_line():
    assert compact_json({"a": {"b": 1}, "c": [1, 2]}) == '{"a": {"b": 1}, "c": [1, 2]}'
    long = {"key": "x" * 80, "short": {"b": 1}}
    assert compact_json(long) == '{\n  "key": "' + "x" * 80 + '",\n  "short": {"b": 1}\n}'


# Creating actions and counting events


@pytest.fixture
def acme(app, make_org):
    org_id = make_org("Acme")
    with app.app_context():
        yield orgs.get_organization(org_id)


def test_create_action_refuses_a_name_in_use_and_reports_everything_else(app, acme):
    services.create_action(
        acme, "user.signed_in", {"targets": [{"type": "team"}]}, actor=None, created_by="user:a@x"
    )
    with pytest.raises(services.InvalidDefinition) as raised:
        services.create_action(acme, "user.signed_in", {"targets": []}, actor=None)
    assert [p["field"] for p in raised.value.problems] == ["action", "targets"]
    assert "already exists" in raised.value.problems[0]["message"]
    assert len(services.get_action(acme.id, "user.signed_in").versions) == 1


def test_recent_event_counts_group_by_action_within_the_window(app, acme):
    from app.ledger.models import Event

    now = utcnow()
    for seq, (action, age) in enumerate([("a", 1), ("a", 29), ("a", 31), ("b", 2)], start=1):
        when = now - timedelta(days=age)
        db.session.add(
            Event(
                id=f"evt_{action}{age}",
                organization_id=acme.id,
                seq=seq,  # a placeholder chain: this test only counts
                hash="0" * 64,
                action=action,
                version=1,
                occurred_at=when,
                received_at=now,
                actor_type="user",
                actor_id="u",
                location="x",
                payload="{}",
            )
        )
    db.session.flush()
    assert services.recent_event_counts(acme.id, now=now) == {"a": 2, "b": 1}


def test_history_is_newest_first_with_authors_and_changes(app, acme, make_key):
    from app.keys import services as keys

    key, _secret = keys.create_key(acme, "Billing service", actor=None)
    services.create_schema(
        acme, "a.b", {"targets": [{"type": "t"}]}, actor=None, created_by=f"key:{key.id}"
    )
    services.create_schema(
        acme, "a.b", {"targets": [{"type": "u"}]}, actor=None, created_by="user:ann@example.com"
    )
    history = services.history_of(services.get_action(acme.id, "a.b"))
    assert [(h.version.version, h.author) for h in history] == [
        (2, "ann@example.com"),
        (1, "API key “Billing service”"),
    ]
    assert history[0].changes == [
        Change("added", "Target type", "u"),
        Change("removed", "Target type", "t"),
    ]
    assert history[1].changes == []
    assert isoformat(history[0].version.created_at).endswith("Z")

"""The schemas pages: list, create, new versions, examples, roles and organizations."""

import html
import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.orgs.models import Role
from app.schemas import services
from app.schemas.models import Action, SchemaVersion
from app.timestamps import utcnow
from tests.conftest import ApiClient, seed_event


def schemas_url(org_id, *rest):
    return "/".join([f"/orgs/{org_id}/schemas", *rest])


def new_action_form(name="user.signed_in", targets=("team",), **extra):
    """The new-action form's fields, as the browser posts them."""
    data = {"name": name}
    for index, kind in enumerate(targets):
        data[f"targets-{index}-type"] = kind
    data.update(extra)
    return data


def stored_versions(app, org_id, name):
    with app.app_context():
        action = services.get_action(org_id, name)
        return [] if action is None else [services.definition_of(v) for v in action.versions]


def page_text(response):
    return response.get_data(as_text=True)


# The list


def test_empty_list_invites_admins_to_configure_an_action(client, org_admin):
    page = page_text(client.get(schemas_url(org_admin)))
    assert "No actions configured yet" in page
    assert "Configure your first action" in page
    assert f'href="{schemas_url(org_admin, "new")}"' in page


def test_list_shows_each_action_with_its_latest_version_and_recent_events(
    app, client, org_admin, api_org_key
):
    api = api_org_key
    api.post("/audit_logs/actions/user.signed_in/schemas", {"targets": [{"type": "team"}]})
    meta = {"type": "object", "properties": {"plan": {"type": "string"}}}
    api.post(
        "/audit_logs/actions/user.signed_in/schemas",
        {"targets": [{"type": "team"}, {"type": "project"}], "actor": {"metadata": meta}},
    )
    api.post("/audit_logs/actions/doc.created/schemas", {"targets": [{"type": "doc"}]})
    recent = utcnow().strftime("%Y-%m-%dT%H:%M:%S.000Z")
    old = (utcnow() - timedelta(days=31)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    for occurred_at in (recent, recent, old):
        event = seed_event(
            version=2,
            occurred_at=occurred_at,
            targets=[{"type": "team", "id": "t"}, {"type": "project", "id": "p"}],
        )
        response = api.post("/audit_logs/events", {"organization_id": org_admin, "event": event})
        assert response.status_code == 200, response.get_json()

    page = page_text(client.get(schemas_url(org_admin)))
    rows = re.findall(r"<tr>(.*?)</tr>", page, re.S)[1:]
    assert [re.search(r'class="action-name"[^>]*>([^<]+)<', r).group(1) for r in rows] == [
        "doc.created",
        "user.signed_in",
    ]
    doc, signed_in = rows
    assert ">v1<" in doc and ">not validated<" in doc
    assert re.search(r'class="numeric">0</td>', doc)
    assert ">v2<" in signed_in
    assert "<code>team</code><code>project</code>" in signed_in
    assert '<span class="scope-chip">actor</span>' in signed_in
    assert re.search(r'class="numeric">2</td>', signed_in)  # the 31-day-old one is not counted


def count_statements(app, call):
    """How many SQL statements ``call`` runs."""
    from sqlalchemy import event as sa_event

    statements = []

    def listener(_conn, _cursor, statement, *_args):
        statements.append(statement)

    with app.app_context():
        sa_event.listen(db.engine, "before_cursor_execute", listener)
        try:
            call()
        finally:
            sa_event.remove(db.engine, "before_cursor_execute", listener)
    return statements


def test_the_list_costs_the_same_queries_for_two_actions_or_six(app, org_admin):
    def add_actions(names):
        with app.app_context():
            from app.orgs.services import get_organization

            org = get_organization(org_admin)
            for name in names:
                services.create_schema(org, name, {"targets": [{"type": "team"}]}, actor=None)
            db.session.commit()

    def summaries():
        services.action_summaries(org_admin)

    add_actions(["a.one", "a.two"])
    few = count_statements(app, summaries)
    add_actions(["a.three", "a.four", "a.five", "a.six"])
    many = count_statements(app, summaries)
    assert len(few) == len(many)
    assert sum("GROUP BY" in s for s in many) == 1


# Creating an action


def test_admin_creates_an_action_and_lands_on_its_page(app, client, auth, org_admin):
    response = auth.post(
        schemas_url(org_admin, "new"),
        new_action_form(
            targets=("team", "project"),
            **{
                "actor-mode": "fields",
                "actor-rows-0-key": "plan",
                "actor-rows-0-type": "string",
                "actor-rows-0-required": "y",
                "actor-rows-1-key": "seats",
                "actor-rows-1-type": "number",
                "metadata-mode": "json",
                "metadata-json_schema": json.dumps(
                    {"type": "object", "properties": {"via": {"enum": ["sso"], "type": "string"}}}
                ),
            },
        ),
    )
    assert response.status_code == 303
    assert response.headers["Location"] == schemas_url(org_admin, "actions", "user.signed_in")
    assert stored_versions(app, org_admin, "user.signed_in") == [
        {
            "targets": [{"type": "team"}, {"type": "project"}],
            "actor": {
                "metadata": {
                    "type": "object",
                    "properties": {"plan": {"type": "string"}, "seats": {"type": "number"}},
                    "required": ["plan"],
                }
            },
            "metadata": {
                "type": "object",
                "properties": {"via": {"enum": ["sso"], "type": "string"}},
            },
        }
    ]
    with app.app_context():
        version = db.session.scalars(select(SchemaVersion)).one()
        assert version.created_by == "user:admin@example.com"
    page = page_text(client.get(response.headers["Location"]))
    assert "user.signed_in is configured (version 1)" in page


def test_invalid_form_is_422_with_every_error_in_place_and_keeps_the_input(app, auth, org_admin):
    response = auth.post(
        schemas_url(org_admin, "new"),
        new_action_form(
            name="has space",
            targets=("team", "team", ""),
            **{
                "actor-rows-0-key": "plan",
                "actor-rows-0-type": "string",
                "actor-rows-1-key": "plan",
                "actor-rows-1-type": "number",
                "actor-rows-2-key": "bad key",
                "metadata-mode": "json",
                "metadata-json_schema": json.dumps(
                    {"type": "object", "properties": {"a": {"type": "array"}}}
                ),
                "targets-1-metadata-mode": "json",
                "targets-1-metadata-json_schema": '{"type": "object",}',
            },
        ),
    )
    assert response.status_code == 422
    page = page_text(response)
    # Each message sits beside its input...
    assert re.search(
        r'id="name"[^>]*value="has space".*?The action name must be 1 to 128', page, re.S
    )
    assert re.search(r'value="team".*?value="team".*?is listed twice', page, re.S)
    assert "Enter a target type, or remove this one." in page
    assert "“plan” is listed twice; list each key once." in page
    assert "Use 1 to 40 letters, digits, _ or -." in page
    assert "properties.a.type must be one of string, number, boolean" in page
    assert "This is not valid JSON: Expecting property name enclosed in double quotes" in page
    # ...and everything typed is still there.
    assert 'value="bad key"' in page
    assert "{&#34;type&#34;: &#34;object&#34;,}" in page
    assert stored_versions(app, org_admin, "has space") == []


def test_a_name_already_in_use_is_refused(app, auth, org_admin):
    assert auth.post(schemas_url(org_admin, "new"), new_action_form()).status_code == 303
    response = auth.post(schemas_url(org_admin, "new"), new_action_form(targets=("user",)))
    assert response.status_code == 422
    assert "An action named &#39;user.signed_in&#39; already exists" in page_text(response)
    assert len(stored_versions(app, org_admin, "user.signed_in")) == 1


def test_a_json_schema_that_is_not_an_object_schema_says_how_to_fix_it(auth, org_admin):
    response = auth.post(
        schemas_url(org_admin, "new"),
        new_action_form(**{"actor-mode": "json", "actor-json_schema": '{"type": "array"}'}),
    )
    assert response.status_code == 422
    assert "type must be &#34;object&#34;." in page_text(response)


def test_rows_left_in_the_mode_not_chosen_are_ignored(app, auth, org_admin):
    response = auth.post(
        schemas_url(org_admin, "new"),
        new_action_form(
            **{
                "actor-mode": "json",
                "actor-json_schema": json.dumps(
                    {"type": "object", "properties": {"plan": {"type": "string"}}}
                ),
                "actor-rows-0-key": "",  # a blank row, left behind in Fields mode
            }
        ),
    )
    assert response.status_code == 303
    assert stored_versions(app, org_admin, "user.signed_in")[0]["actor"]["metadata"] == {
        "type": "object",
        "properties": {"plan": {"type": "string"}},
    }


# The rows htmx adds


def test_target_row_partial_has_the_next_names_and_the_next_add_button(client, org_admin):
    response = client.get(schemas_url(org_admin, "form", "target-row") + "?index=3")
    assert response.status_code == 200
    page = page_text(response)
    assert 'name="targets-3-type"' in page
    assert 'name="targets-3-metadata-mode"' in page
    assert "index=4" in page and "<html" not in page
    assert "autofocus" in page


def test_field_row_partial_names_its_list(client, org_admin):
    page = page_text(
        client.get(
            schemas_url(org_admin, "form", "field-row") + "?list=targets-2-metadata-rows&index=0"
        )
    )
    assert 'name="targets-2-metadata-rows-0-key"' in page
    assert 'name="targets-2-metadata-rows-0-required"' in page
    assert "index=1" in page


@pytest.mark.parametrize(
    "query",
    ["list=actor-rows", "list=actor-rows&index=-1", "list=actor-rows&index=x", "list=x&index=0"],
)
def test_field_row_partial_refuses_bad_parameters(client, org_admin, query):
    assert client.get(schemas_url(org_admin, "form", "field-row") + f"?{query}").status_code == 400


# New versions


def create(auth, org_id, **form):
    response = auth.post(schemas_url(org_id, "new"), new_action_form(**form))
    assert response.status_code == 303, page_text(response)


def test_edit_form_starts_from_the_latest_version(auth, client, org_admin):
    create(
        auth,
        org_admin,
        targets=("team",),
        **{"actor-rows-0-key": "plan", "actor-rows-0-required": "y"},
    )
    page = page_text(client.get(schemas_url(org_admin, "actions", "user.signed_in", "edit")))
    assert "New version of user.signed_in" in page
    assert "Save version 2" in page
    assert re.search(r'name="targets-0-type"[^>]*value="team"', page)
    assert re.search(r'name="actor-rows-0-key"[^>]*value="plan"', page)
    assert re.search(
        r'checked[^>]*name="actor-rows-0-required"|name="actor-rows-0-required"[^>]*checked', page
    )


def test_editing_creates_version_2_and_the_page_shows_the_diff(app, client, auth, org_admin):
    create(auth, org_admin, targets=("team",))
    response = auth.post(
        schemas_url(org_admin, "actions", "user.signed_in", "edit"),
        {
            "targets-0-type": "team",
            "targets-1-type": "project",
            "metadata-rows-0-key": "plan",
            "metadata-rows-0-type": "string",
            "metadata-rows-0-required": "y",
        },
    )
    assert response.status_code == 303
    versions = stored_versions(app, org_admin, "user.signed_in")
    assert [len(v["targets"]) for v in versions] == [1, 2]
    page = page_text(client.get(response.headers["Location"]))
    assert "Version 2 of user.signed_in is saved" in page
    history = page[page.index("Version history") :]
    assert re.search(r"added</span>\s*<span>Target type <code>project</code>", history)
    assert re.search(r"added</span>\s*<span>Event metadata is now validated", history)
    assert "Event metadata field <code>plan</code> (string, required)" in history
    assert "latest · used by the examples" in history
    assert '"version": 2' in html.unescape(page)  # the examples send the latest version


def test_saving_an_unchanged_version_creates_nothing(app, client, auth, org_admin):
    create(auth, org_admin, **{"actor-rows-0-key": "plan", "actor-rows-0-required": "y"})
    edit_url = schemas_url(org_admin, "actions", "user.signed_in", "edit")
    response = auth.post(
        edit_url,
        {"targets-0-type": "team", "actor-rows-0-key": "plan", "actor-rows-0-required": "y"},
    )
    assert response.status_code == 303
    assert "Nothing changed: version 1 is still the latest." in page_text(
        client.get(response.headers["Location"])
    )
    assert len(stored_versions(app, org_admin, "user.signed_in")) == 1


def test_an_invalid_edit_is_422_and_stores_nothing(app, auth, org_admin):
    create(auth, org_admin)
    response = auth.post(
        schemas_url(org_admin, "actions", "user.signed_in", "edit"),
        {"targets-0-type": "team", "targets-1-type": "team"},
    )
    assert response.status_code == 422
    assert "is listed twice" in page_text(response)
    assert len(stored_versions(app, org_admin, "user.signed_in")) == 1


def test_an_unknown_action_leads_back_to_the_list(client, org_admin):
    response = client.get(schemas_url(org_admin, "actions", "nope"))
    assert response.status_code == 303
    assert response.headers["Location"] == schemas_url(org_admin)
    assert "There is no action named “nope”" in page_text(client.get(schemas_url(org_admin)))


# The action page's examples


def test_action_page_examples_fill_in_the_organization_and_required_metadata(
    client, auth, org_admin
):
    create(
        auth,
        org_admin,
        targets=("team",),
        **{
            "actor-rows-0-key": "plan",
            "actor-rows-0-type": "string",
            "actor-rows-0-required": "y",
            "metadata-rows-0-key": "seats",
            "metadata-rows-0-type": "number",
            "metadata-rows-0-required": "y",
        },
    )
    page = page_text(client.get(schemas_url(org_admin, "actions", "user.signed_in")))
    assert 'data-copy="#example-curl"' in page and 'data-copy="#example-python"' in page
    curl = re.search(r'<code id="example-curl">(.*?)</code>', page, re.S).group(1)
    assert "curl -X POST http://localhost/audit_logs/events" in curl
    assert "Authorization: Bearer $AUDIT_LOG_API_KEY" in curl
    assert org_admin in curl
    python = re.search(r'<code id="example-python">(.*?)</code>', page, re.S).group(1)
    assert "from workos import WorkOSClient" in python
    assert "base_url=&#34;http://localhost/&#34;" in python
    assert "metadata={&#34;plan&#34;: &#34;example&#34;}" in python
    assert "metadata={&#34;seats&#34;: 1}" in python
    assert f'href="/orgs/{org_admin}/settings/api-keys"' in page
    assert "version 1</strong>, the latest" in page


# Roles and organizations


@pytest.fixture
def viewer(app, client, auth, make_org, make_user):
    """Acme with an action, and a signed-in viewer of Acme."""
    acme = make_org("Acme")
    make_user("admin@example.com", acme, Role.ADMIN)
    make_user("viewer@example.com", acme, Role.VIEWER)
    with app.app_context():
        from app.orgs.services import get_organization

        services.create_schema(
            get_organization(acme), "user.signed_in", {"targets": [{"type": "team"}]}, actor=None
        )
        db.session.commit()
    auth.login("viewer@example.com")
    return acme


def test_viewers_read_schemas_without_ways_to_change_them(client, viewer):
    listing = page_text(client.get(schemas_url(viewer)))
    assert "user.signed_in" in listing
    assert "New action" not in listing and "/schemas/new" not in listing
    page = page_text(client.get(schemas_url(viewer, "actions", "user.signed_in")))
    assert "Send a test event" in page
    assert "/edit" not in page
    assert "an admin of Acme can create one" in page
    assert "/settings/api-keys" not in page


def test_viewers_get_403_on_every_way_to_change_a_schema(app, client, auth, viewer):
    edit = schemas_url(viewer, "actions", "user.signed_in", "edit")
    assert client.get(schemas_url(viewer, "new")).status_code == 403
    assert auth.post(schemas_url(viewer, "new"), new_action_form(name="x.y")).status_code == 403
    assert client.get(edit).status_code == 403
    assert auth.post(edit, {"targets-0-type": "user"}).status_code == 403
    assert client.get(schemas_url(viewer, "form", "target-row") + "?index=1").status_code == 403
    assert len(stored_versions(app, viewer, "user.signed_in")) == 1
    assert stored_versions(app, viewer, "x.y") == []


def test_another_organization_can_neither_see_nor_edit_our_schemas(
    app, client, auth, make_org, make_user, viewer
):
    globex = make_org("Globex")
    make_user("admin@globex.example.com", globex, Role.ADMIN)
    auth.logout()
    auth.login("admin@globex.example.com")
    assert "No actions configured yet" in page_text(client.get(schemas_url(globex)))
    # Through their own organization's URLs, our action does not exist...
    response = client.get(schemas_url(globex, "actions", "user.signed_in"))
    assert response.status_code == 303
    response = auth.post(
        schemas_url(globex, "actions", "user.signed_in", "edit"), {"targets-0-type": "user"}
    )
    assert response.status_code == 303
    # ...and through ours, neither does the organization.
    assert client.get(schemas_url(viewer, "actions", "user.signed_in")).status_code == 404
    edit = schemas_url(viewer, "actions", "user.signed_in", "edit")
    assert auth.post(edit, {"targets-0-type": "user"}).status_code == 404
    assert len(stored_versions(app, viewer, "user.signed_in")) == 1
    with app.app_context():
        assert db.session.scalar(select(Action).where(Action.organization_id == globex)) is None


def test_api_and_form_refuse_the_same_schema_with_the_same_message(auth, org_admin, api_org_key):
    bad = {"type": "object", "properties": {"bad key": {"type": "string"}}}
    api_response = api_org_key.post(
        "/audit_logs/actions/user.signed_in/schemas",
        {"targets": [{"type": "team"}], "metadata": bad},
    )
    assert api_response.status_code == 422
    api_message = api_response.get_json()["errors"][0]["message"]
    form_response = auth.post(
        schemas_url(org_admin, "new"),
        new_action_form(**{"metadata-mode": "json", "metadata-json_schema": json.dumps(bad)}),
    )
    assert form_response.status_code == 422
    from markupsafe import escape

    assert str(escape(api_message.removeprefix("metadata."))) in page_text(form_response)


@pytest.fixture
def api_org_key(client, org_admin, make_key):
    """An API client for the signed-in admin's organization."""
    return ApiClient(client, make_key(org_admin), org_admin)

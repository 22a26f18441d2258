"""The command line: ``flask orgs create`` and ``flask users create``."""

import re

from sqlalchemy import select

from app.accounts.models import User
from app.extensions import db
from app.orgs.models import Membership, Organization, Role


def users_create(runner, email, org_id, role, *options, **kwargs):
    """Run ``flask users create EMAIL --org ORG_ID --role ROLE [OPTIONS]``."""
    args = ["users", "create", email, "--org", org_id, "--role", role, *options]
    return runner.invoke(args=args, **kwargs)


def test_orgs_create_prints_the_new_id(app, runner):
    result = runner.invoke(args=["orgs", "create", "Acme Inc."])
    assert result.exit_code == 0, result.output
    org_id = result.output.strip()
    assert re.fullmatch(r"org_[0-9A-HJKMNP-TV-Z]{26}", org_id)
    with app.app_context():
        assert db.session.get(Organization, org_id).name == "Acme Inc."


def test_users_create_with_password(app, runner, make_org):
    org_id = make_org("Acme")
    result = users_create(
        runner, "Ann@Example.com", org_id, "viewer", "--password", "long enough password"
    )
    assert result.exit_code == 0, result.output
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "ann@example.com"))
        assert not user.is_superuser
        assert user.memberships[0].role == Role.VIEWER


def test_users_create_prompts_for_the_password(app, runner, make_org, auth):
    org_id = make_org("Acme")
    result = users_create(
        runner,
        "root@example.com",
        org_id,
        "admin",
        "--superuser",
        input="long enough password\nlong enough password\n",
    )
    assert result.exit_code == 0, result.output
    assert auth.login("root@example.com", "long enough password").status_code == 303
    with app.app_context():
        membership = db.session.scalar(select(Membership))
        assert membership.user.is_superuser and membership.role == Role.ADMIN


def test_users_create_refuses_unknown_org_and_bad_role(runner, make_org):
    result = users_create(runner, "a@example.com", "org_nope", "admin", "--password", "x" * 12)
    assert result.exit_code == 2
    assert "no organization has the id" in result.output
    org_id = make_org()
    result = users_create(runner, "a@example.com", org_id, "owner", "--password", "x" * 12)
    assert result.exit_code == 2


def test_users_create_refuses_a_taken_email_and_a_short_password(runner, make_org, make_user):
    org_id = make_org()
    make_user("taken@example.com")
    result = users_create(runner, "taken@example.com", org_id, "admin", "--password", "x" * 12)
    assert result.exit_code == 2 and "already exists" in result.output
    result = users_create(runner, "new@example.com", org_id, "admin", "--password", "short")
    assert result.exit_code == 2 and "at least 10" in result.output

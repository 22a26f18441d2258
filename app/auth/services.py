"""The verbs of signing in and out and of the first run, each recorded in the logs of the
organizations the person belongs to."""

from app.accounts import services as accounts
from app.orgs import services as orgs
from app.trail import services as trail


def sign_in(email, password):
    """The user these credentials belong to, with ``dashboard.signed_in`` recorded; or
    ``None``, with ``dashboard.sign_in_failed`` recorded for a known account (an unknown
    email belongs to no organization, so it is recorded nowhere)."""
    user = accounts.authenticate(email, password)
    if user is not None:
        trail.record(orgs.organization_ids_of(user), "dashboard.signed_in", user)
        return user
    known = accounts.find_user(email)
    if known is not None:
        trail.record(
            orgs.organization_ids_of(known),
            "dashboard.sign_in_failed",
            known,
            metadata={"reason": "wrong_password"},
        )
    return None


def sign_out(user):
    """Record that the user signed out."""
    trail.record(orgs.organization_ids_of(user), "dashboard.signed_out", user)


def set_up(email, password, organization_name):
    """The first run: the first superuser and organization, recorded as created by them;
    returns ``(user, org)``."""
    user = accounts.create_user(email, password, is_superuser=True)
    org = orgs.create_organization(organization_name, admin=user, actor=trail.user_actor(user))
    return user, org

"""The verbs of organizations: create them, manage who belongs and in which role.

Each change is recorded in the organization's own log with its ``actor`` (see
app/trail/services.py); ``actor=None`` records nothing, for seeding and test setup.
"""

from sqlalchemy import func, select

from app.accounts import services as accounts
from app.accounts.models import User
from app.extensions import db
from app.orgs.models import Membership, Organization, Role
from app.service_errors import Conflict, NotAllowed, ServiceError
from app.trail import services as trail


def create_organization(name, *, actor, admin=None):
    """Create an organization; ``admin``, when given, becomes its first admin."""
    name = name.strip()
    if not name:
        raise ServiceError("Give the organization a name.", field="name")
    org = Organization(name=name)
    db.session.add(org)
    db.session.flush()
    if admin is not None:
        db.session.add(Membership(organization=org, user=admin, role=Role.ADMIN))
        db.session.flush()
    trail.record(org.id, "dashboard.organization_created", actor, [trail.organization_target(org)])
    return org


def get_organization(org_id):
    """Return the organization with this id, or ``None``."""
    return db.session.get(Organization, org_id)


def rename_organization(org, name, *, actor):
    """Change an organization's display name."""
    name = name.strip()
    if not name:
        raise ServiceError("Give the organization a name.", field="name")
    previous, org.name = org.name, name
    db.session.flush()
    if name != previous:
        target, metadata = trail.organization_target(org), {"previous_name": previous}
        trail.record(org.id, "dashboard.organization_renamed", actor, [target], metadata)


def membership_for(user, org_id):
    """Return the user's membership in the organization, or ``None`` if they are not in it."""
    return db.session.scalar(
        select(Membership).where(
            Membership.user_id == user.id, Membership.organization_id == org_id
        )
    )


def organization_ids_of(user):
    """The ids of the organizations the user belongs to."""
    return db.session.scalars(
        select(Membership.organization_id).where(Membership.user_id == user.id)
    ).all()


def memberships_of(user):
    """Return the user's memberships, ordered by organization name."""
    return db.session.scalars(
        select(Membership)
        .join(Organization)
        .where(Membership.user_id == user.id)
        .order_by(Organization.name, Organization.id)
    ).all()


def members_of(org):
    """Return the organization's memberships, ordered by email."""
    return db.session.scalars(
        select(Membership)
        .join(User)
        .where(Membership.organization_id == org.id)
        .order_by(User.email)
    ).all()


def get_membership(org, membership_id):
    """Return one membership of this organization, or ``None`` (never another org's)."""
    return db.session.scalar(
        select(Membership).where(
            Membership.id == membership_id, Membership.organization_id == org.id
        )
    )


def add_member(org, email, role, *, actor, password=None):
    """Add a person to the organization, creating their account if they have none.

    A new account needs ``password`` (the admin hands it over; the person can change it).
    """
    role = Role(role)
    user = accounts.find_user(email)
    if user is None:
        if not password:
            raise ServiceError(
                "No account uses this email yet: set an initial password for it.",
                field="password",
            )
        user = accounts.create_user(email, password)
    elif membership_for(user, org.id) is not None:
        raise Conflict(f"{user.email} is already a member.", field="email")
    membership = Membership(organization=org, user=user, role=role)
    db.session.add(membership)
    db.session.flush()
    trail.record(org.id, "dashboard.member_added", actor, targets=[trail.member_target(membership)])
    return membership


def _admin_count(org):
    return db.session.scalar(
        select(func.count())
        .select_from(Membership)
        .where(Membership.organization_id == org.id, Membership.role == Role.ADMIN)
    )


def change_role(membership, role, *, actor):
    """Give a member another role; the last admin cannot be demoted."""
    role = Role(role)
    if membership.role == Role.ADMIN and role != Role.ADMIN:
        _refuse_if_last_admin(membership)
    previous, membership.role = membership.role, role
    db.session.flush()
    if role != previous:
        target = trail.member_target(membership)
        metadata = {"role": role.value, "previous_role": previous.value}
        trail.record(
            org_id_of(membership), "dashboard.member_role_changed", actor, [target], metadata
        )


def remove_member(membership, *, actor):
    """Take a member out of the organization; the last admin cannot be removed."""
    if membership.role == Role.ADMIN:
        _refuse_if_last_admin(membership)
    target = trail.member_target(membership)
    db.session.delete(membership)
    db.session.flush()
    trail.record(org_id_of(membership), "dashboard.member_removed", actor, [target])


def org_id_of(membership):
    """The id of the membership's organization."""
    return membership.organization_id


def _refuse_if_last_admin(membership):
    if _admin_count(membership.organization) <= 1:
        raise NotAllowed("An organization needs at least one admin: make someone else admin first.")

"""The verbs of organizations: create them, manage who belongs and in which role."""

from sqlalchemy import func, select

from app.accounts import services as accounts
from app.accounts.models import User
from app.extensions import db
from app.orgs.models import Membership, Organization, Role
from app.service_errors import Conflict, NotAllowed, ServiceError


def create_organization(name, admin=None):
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
    return org


def get_organization(org_id):
    """Return the organization with this id, or ``None``."""
    return db.session.get(Organization, org_id)


def rename_organization(org, name):
    """Change an organization's display name."""
    name = name.strip()
    if not name:
        raise ServiceError("Give the organization a name.", field="name")
    org.name = name
    db.session.flush()


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


def add_member(org, email, role, password=None):
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
    return membership


def _admin_count(org):
    return db.session.scalar(
        select(func.count())
        .select_from(Membership)
        .where(Membership.organization_id == org.id, Membership.role == Role.ADMIN)
    )


def change_role(membership, role):
    """Give a member another role; the last admin cannot be demoted."""
    role = Role(role)
    if membership.role == Role.ADMIN and role != Role.ADMIN:
        _refuse_if_last_admin(membership)
    membership.role = role
    db.session.flush()


def remove_member(membership):
    """Take a member out of the organization; the last admin cannot be removed."""
    if membership.role == Role.ADMIN:
        _refuse_if_last_admin(membership)
    db.session.delete(membership)
    db.session.flush()


def _refuse_if_last_admin(membership):
    if _admin_count(membership.organization) <= 1:
        raise NotAllowed("An organization needs at least one admin: make someone else admin first.")

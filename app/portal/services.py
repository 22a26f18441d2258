"""The verbs of portal links: generate, open (once), find the session, close, revoke.

A link carries a random secret; only its SHA-256 is stored, so the table cannot open a
portal. Opening is one conditional UPDATE (unopened, unrevoked, in time), so of two
browsers racing with one link exactly one gets the session. Every use is recorded in
the organization's log: the link made, opened, refused, closed, revoked.
"""

import hashlib
import secrets
from datetime import timedelta

from flask import current_app
from sqlalchemy import select, update

from app.extensions import db
from app.portal.models import Intent, LinkState, PortalLink
from app.service_errors import ServiceError
from app.timestamps import isoformat, utcnow
from app.trail import services as trail

OPEN_WITHIN = timedelta(minutes=5)
LIST_LIMIT = 100
ACTOR_TYPE = "admin_portal"
# Where each intent's session lands, and which page titles its header shows.
LANDING = {Intent.AUDIT_LOGS: "events.index", Intent.LOG_STREAMS: "streams.index"}


class LinkRefused(ServiceError):
    """A link that cannot be opened (used, too late, revoked, or unknown)."""

    def __init__(self, message, reason, link=None):
        super().__init__(message)
        self.reason = reason
        self.link = link


def secret_hash(secret):
    return hashlib.sha256(secret.encode()).hexdigest()


def session_length():
    return timedelta(minutes=current_app.config["PORTAL_SESSION_MINUTES"])


def portal_actor(link):
    """The visitor of a portal session, as the actor of what they do."""
    return trail.Actor(ACTOR_TYPE, link.id, link.external_user_id or "Admin Portal")


def link_target(link):
    return trail.Target(
        "portal_link",
        link.id,
        link.external_user_id,
        {"intent": link.intent, "return_url": link.return_url},
    )


def generate_link(
    org, intent, *, actor, created_by, return_url=None, success_url=None, external_user_id=None
):
    """A new link for ``org`` and ``intent``: ``(link, secret)``; the secret is not kept."""
    if intent not in set(Intent):
        raise ServiceError(f"intent must be one of: {', '.join(Intent)}.", field="intent")
    secret = secrets.token_urlsafe(32)
    now = utcnow()
    link = PortalLink(
        organization_id=org.id,
        intent=str(intent),
        secret_hash=secret_hash(secret),
        return_url=return_url,
        success_url=success_url,
        external_user_id=external_user_id,
        created_at=now,
        created_by=created_by[:300],
        open_by=now + OPEN_WITHIN,
    )
    db.session.add(link)
    db.session.flush()
    trail.record(
        org.id,
        "dashboard.portal_link_created",
        actor,
        targets=[link_target(link)],
        metadata={"open_by": isoformat(link.open_by)},
    )
    return link, secret


def open_link(secret, location, now=None):
    """Start the session of the link with this secret; the link, or ``LinkRefused``."""
    now = now or utcnow()
    digest = secret_hash(secret)
    opened = db.session.execute(
        update(PortalLink)
        .where(
            PortalLink.secret_hash == digest,
            PortalLink.opened_at.is_(None),
            PortalLink.revoked_at.is_(None),
            PortalLink.open_by > now,
        )
        .values(
            opened_at=now,
            opened_from=(location or "")[:256] or None,
            session_expires_at=now + session_length(),
        )
        .execution_options(synchronize_session=False)
    )
    link = db.session.scalar(
        select(PortalLink)
        .where(PortalLink.secret_hash == digest)
        .execution_options(populate_existing=True)
    )
    if link is None:
        raise LinkRefused("This portal link is not valid.", "unknown")
    if opened.rowcount == 1:
        trail.record(
            link.organization_id,
            "dashboard.portal_opened",
            portal_actor(link),
            targets=[link_target(link)],
            metadata={"session_expires_at": isoformat(link.session_expires_at)},
        )
        return link
    raise LinkRefused(*refusal(link), link)


def record_refusal(link, reason):
    """Record an attempt to open a link that did not open (used, too late, revoked)."""
    trail.record(
        link.organization_id,
        "dashboard.portal_link_refused",
        portal_actor(link),
        targets=[link_target(link)],
        metadata={"reason": reason},
    )


def refusal(link):
    """Why an existing link did not open: ``(message, reason)``."""
    if link.revoked_at is not None:
        return "This portal link was revoked.", "revoked"
    if link.opened_at is not None:
        return "This portal link was already used: a link opens only once.", "already_used"
    return "This portal link has expired: it had to be opened within 5 minutes.", "expired"


def find_link(link_id):
    """A link by id (a session's), or ``None``."""
    return db.session.get(PortalLink, link_id)


def active_link(link_id, now=None):
    """The link whose session is running, by id; ``None`` once it has ended."""
    link = find_link(link_id)
    if link is None or link.state(now) != LinkState.ACTIVE:
        return None
    return link


def close(link):
    """The visitor left the portal: its session ends now."""
    link.closed_at = utcnow()
    db.session.flush()
    trail.record(
        link.organization_id, "dashboard.portal_closed", portal_actor(link), [link_target(link)]
    )


def revoke(link, actor, revoked_by):
    """Revoke a link: it no longer opens, and its session (if running) ends at once."""
    if link.revoked_at is not None:
        return False
    link.revoked_at = utcnow()
    link.revoked_by = revoked_by[:300]
    db.session.flush()
    trail.record(link.organization_id, "dashboard.portal_link_revoked", actor, [link_target(link)])
    return True


def revoke_for_user(org_id, external_user_id, actor, revoked_by):
    """Revoke every link of the organization generated for ``external_user_id``; how many."""
    links = db.session.scalars(
        select(PortalLink).where(
            PortalLink.organization_id == org_id,
            PortalLink.external_user_id == external_user_id,
            PortalLink.revoked_at.is_(None),
        )
    ).all()
    return sum(revoke(link, actor, revoked_by) for link in links)


def links_of(org_id, limit=LIST_LIMIT):
    """The organization's latest links, newest first."""
    return db.session.scalars(
        select(PortalLink)
        .where(PortalLink.organization_id == org_id)
        .order_by(PortalLink.created_at.desc(), PortalLink.id.desc())
        .limit(limit)
    ).all()


def get_link(org_id, link_id):
    """One of the organization's links, or ``None``."""
    return db.session.scalar(
        select(PortalLink).where(PortalLink.organization_id == org_id, PortalLink.id == link_id)
    )

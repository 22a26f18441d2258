"""The bodies of ``POST /portal/generate_link`` and ``POST /portal/revoke_link``, checked
with pydantic like every API body (problems are 422 ``validation_failed``)."""

from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, Field, StringConstraints
from pydantic_core import PydanticCustomError

from app.ledger.shape import STRICT

MAX_URL = 2048


def absolute_http_url(value):
    """A URL the portal can send a browser to: absolute, http or https, no credentials."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
        raise PydanticCustomError("invalid_url", "must be an absolute http or https URL")
    return value


Url = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_URL), AfterValidator(absolute_http_url)
]
OrganizationId = Annotated[str, StringConstraints(min_length=1, max_length=64)]
ExternalUserId = Annotated[str, StringConstraints(min_length=1, max_length=255)]


class LinkRequest(BaseModel):
    """A portal link for one organization and intent (WorkOS's fields this service has)."""

    model_config = STRICT
    organization: OrganizationId
    intent: Literal["audit_logs", "log_streams"] = Field(
        description="audit_logs: browse, filter and export the events; "
        "log_streams: set up the organization's log streams."
    )
    return_url: Url | None = Field(
        default=None, description="Where the portal's Back link and Leave button go."
    )
    success_url: Url | None = Field(
        default=None, description="Where the log-streams portal's Done button goes."
    )
    external_user_id: ExternalUserId | None = Field(
        default=None,
        description="Your id of the person the link is for: the log names them by it, and "
        "POST /portal/revoke_link revokes their links and sessions.",
    )


class RevokeRequest(BaseModel):
    """Revoke every link (and running session) of one person of the organization."""

    model_config = STRICT
    organization: OrganizationId
    external_user_id: ExternalUserId

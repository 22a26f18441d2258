"""The body of ``POST /audit_logs/exports``, checked with pydantic like events' bodies.

Shape problems are 422 ``validation_failed`` (app/ledger/shape.py builds the items); the
dates are checked afterwards, because the contract gives them their own 400.
"""

from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from app.events.filters import MAX_VALUES
from app.ledger.shape import ACTION_PATTERN, STRICT

Text = Annotated[str, StringConstraints(min_length=1, max_length=256), Field(strict=True)]
ActionName = Annotated[str, StringConstraints(pattern=ACTION_PATTERN)]
Values = Annotated[list[Text], Field(max_length=MAX_VALUES)]


class ExportRequest(BaseModel):
    """Which events to export: a date range, optional lists (OR within one, AND across)."""

    model_config = STRICT
    organization_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    range_start: Annotated[str, StringConstraints(max_length=64)] = Field(
        description="ISO 8601; inclusive. A time without an offset is UTC."
    )
    range_end: Annotated[str, StringConstraints(max_length=64)] = Field(
        description="ISO 8601; exclusive, later than range_start."
    )
    actions: Annotated[list[ActionName], Field(max_length=MAX_VALUES)] | None = None
    actor_names: Values | None = None
    actors: Values | None = Field(default=None, description="The same as actor_names.")
    actor_ids: Values | None = None
    targets: Values | None = Field(default=None, description="Target types.")
    format: Literal["csv", "ndjson"] = "csv"

"""The retention period form of Settings."""

from flask_wtf import FlaskForm
from wtforms import SelectChoice, SelectField

from app.retention.services import PERIODS


def period_label(name, days):
    """``1_YEAR`` -> "1 year (365 days)"."""
    count, unit = name.split("_")
    return f"{count} {unit.lower()} ({days} days)"


class RetentionForm(FlaskForm):
    """How long the organization keeps its events."""

    retention_period_in_days = SelectField(
        "Keep events for",
        choices=[
            SelectChoice(str(days), period_label(name, days)) for name, days in PERIODS.items()
        ],
    )

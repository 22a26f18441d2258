"""The retention periods an organization may choose, and setting one."""

from app.extensions import db
from app.service_errors import ServiceError

# 1 to 11 months (30-day months), then 1 to 10 years (365-day years), as the contract lists.
PERIODS = {f"{n}_MONTH{'S' if n > 1 else ''}": 30 * n for n in range(1, 12)} | {
    f"{n}_YEAR{'S' if n > 1 else ''}": 365 * n for n in range(1, 11)
}
ALLOWED_DAYS = sorted(PERIODS.values())


def set_retention(org, days):
    """Keep the organization's events for ``days`` days (one of the allowed periods)."""
    if days not in ALLOWED_DAYS:
        raise ServiceError(
            "Choose one of the periods: 30, 60, ... 330 days, or 365, 730, ... 3650 days.",
            field="retention_period_in_days",
        )
    org.retention_period_in_days = days
    db.session.flush()

"""The integrity page's one form: the "Verify integrity" button."""

from flask_wtf import FlaskForm


class VerifyForm(FlaskForm):
    """Start a verification (only the CSRF token)."""

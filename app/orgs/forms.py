"""Forms for organizations and their members."""

from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, Email, Length, Optional

from app.accounts.passwords import MIN_PASSWORD_LENGTH
from app.orgs.models import Role

ROLE_CHOICES = [
    SelectChoice(Role.VIEWER.value, "Viewer"),
    SelectChoice(Role.ADMIN.value, "Admin"),
]


class OrganizationForm(FlaskForm):
    """An organization's name."""

    name = StringField("Name", validators=[DataRequired(), Length(max=200)])


class AddMemberForm(FlaskForm):
    """Who to add, in which role, and a first password when they have no account yet."""

    email = EmailField(
        "Email", validators=[DataRequired(), Email(check_deliverability=False), Length(max=254)]
    )
    role = SelectField("Role", choices=ROLE_CHOICES, default=Role.VIEWER.value)
    password = PasswordField(
        "Initial password",
        validators=[
            Optional(),
            Length(
                min=MIN_PASSWORD_LENGTH, message=f"Use at least {MIN_PASSWORD_LENGTH} characters."
            ),
        ],
    )


class RoleForm(FlaskForm):
    """A member's new role."""

    role = SelectField("Role", choices=[SelectChoice(r.value, r.value.title()) for r in Role])


class ConfirmForm(FlaskForm):
    """A button that only needs the CSRF token (remove, sign out)."""

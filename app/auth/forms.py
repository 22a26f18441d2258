"""Sign-in, first-run setup and password forms."""

from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, Email, EqualTo, Length

from app.accounts.passwords import MIN_PASSWORD_LENGTH


class LoginForm(FlaskForm):
    """Email and password."""

    email = EmailField("Email", validators=[DataRequired()])
    password = PasswordField("Password", validators=[DataRequired()])


def new_password_field(label="Password"):
    """A password field with the length rule the services enforce."""
    return PasswordField(
        label,
        validators=[
            DataRequired(),
            Length(
                min=MIN_PASSWORD_LENGTH, message=f"Use at least {MIN_PASSWORD_LENGTH} characters."
            ),
        ],
    )


class SetupForm(FlaskForm):
    """The first organization and the first (super)user."""

    organization = StringField("Organization name", validators=[DataRequired(), Length(max=200)])
    email = EmailField(
        "Your email",
        validators=[DataRequired(), Email(check_deliverability=False), Length(max=254)],
    )
    password = new_password_field()
    confirm = PasswordField(
        "Repeat the password",
        validators=[DataRequired(), EqualTo("password", message="The passwords do not match.")],
    )


class ChangePasswordForm(FlaskForm):
    """A signed-in user's new password."""

    current_password = PasswordField("Current password", validators=[DataRequired()])
    password = new_password_field("New password")
    confirm = PasswordField(
        "Repeat the new password",
        validators=[DataRequired(), EqualTo("password", message="The passwords do not match.")],
    )

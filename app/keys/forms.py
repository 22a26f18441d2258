"""Forms for API keys."""

from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length


class ApiKeyForm(FlaskForm):
    """A new key's name: what will use it."""

    name = StringField("Name", validators=[DataRequired(), Length(max=100)])
